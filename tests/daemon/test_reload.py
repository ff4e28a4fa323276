"""`ecrd run` reloads its configuration however it changes, and applies only the difference.

Tokens live an hour here unless said otherwise, so that no regular refresh comes during a
test: every call the emulator records after the first round is one a reload caused.
"""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING, Any

from ecrd.emulator.server import Fault
from tests.daemon.conftest import (
    EAST,
    EAST_HOST,
    EU_HOST,
    FAST,
    SLOW,
    WEST,
    WEST2,
    WEST2_HOST,
    WEST_HOST,
    config_yaml,
    ecrd_status,
    holding,
    parse_time,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ecrd.emulator.server import Emulator
    from tests.daemon.conftest import DaemonProcess, Outputs

FOREIGN_DOCKER: dict[str, Any] = {
    "auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}},
    "x-unknown": {"kept": True},
}
FOREIGN_NETRC = "# mine\nmachine example.com\nlogin me\npassword hunter2\n"


def group_name(region: str, emulator: Emulator) -> str:
    return f"ecr:{region} endpoint={emulator.url}"


def write_foreign(outputs: Outputs) -> None:
    """Entries somebody else wrote, which ecrd must never remove."""
    for path in (outputs.docker, outputs.netrc):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    outputs.docker.write_text(json.dumps(FOREIGN_DOCKER, indent="\t"))
    outputs.netrc.write_text(FOREIGN_NETRC)


def netrc_machines(outputs: Outputs) -> list[str]:
    return [
        line.split()[1]
        for line in outputs.netrc.read_text().splitlines()
        if line.startswith("machine ")
    ]


def settle(daemon: DaemonProcess, outputs: Outputs, *hosts: str, since: int = 0) -> None:
    """Wait until every host in ``hosts`` was refreshed, written and its next refresh set."""
    for host in hosts:
        refreshed = daemon.wait_for("token_refreshed", since=since, where=holding(host))
        after = daemon.index(refreshed) + 1
        daemon.wait_for("output_written", since=after, path=str(outputs.netrc), where=holding(host))
        daemon.wait_for("refresh_scheduled", since=after, where=holding(host))


def start_settled(
    start_daemon: Callable[..., DaemonProcess],
    emulator: Emulator,
    config_path: Path,
    outputs: Outputs,
    *hosts: str,
) -> DaemonProcess:
    """The daemon on ``hosts`` with foreign entries in both outputs, first round written."""
    write_foreign(outputs)
    config_path.write_text(
        config_yaml(endpoint=emulator.url, registries=hosts, outputs=outputs, refresh=SLOW)
    )
    daemon = start_daemon(config_path)
    settle(daemon, outputs, *hosts)
    return daemon


class TestHowTheFileChanges:
    def test_an_edit_in_place_is_applied_and_the_new_registry_fetched_at_once(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """Rewriting the file in place (same inode) adds us-east-2: one call, for it alone."""
        daemon = start_settled(
            start_daemon, slow_emulator, config_path, outputs, WEST_HOST, EU_HOST
        )
        inode = config_path.stat().st_ino
        mark = daemon.mark()

        with config_path.open("w") as file:
            file.write(
                config_yaml(
                    endpoint=slow_emulator.url,
                    registries=[WEST_HOST, EU_HOST, EAST_HOST],
                    outputs=outputs,
                    refresh=SLOW,
                )
            )
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        settle(daemon, outputs, EAST_HOST, since=mark)
        calls = slow_emulator.calls(api="ecr")

        assert inode == config_path.stat().st_ino
        assert [group_name("us-east-2", slow_emulator)] == reloaded["refreshed"]
        assert [] == reloaded["removed"]
        assert 3 == len(calls)
        assert ("us-east-2", (EAST,)) == (calls[-1].region, calls[-1].registry_ids)
        assert sorted(["ghcr.io", WEST_HOST, EU_HOST, EAST_HOST]) == sorted(outputs.auths())
        assert [str(config_path)] == [e["config"] for e in daemon.find("config_reloaded")]

    def test_an_editor_save_by_rename_is_seen_once(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """A new file written beside and renamed over the old (vim, VS Code) reloads once."""
        daemon = start_settled(start_daemon, slow_emulator, config_path, outputs, WEST_HOST)
        mark = daemon.mark()

        temporary = config_path.with_name(".config.yaml.swp")
        temporary.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EAST_HOST],
                outputs=outputs,
                refresh=SLOW,
            )
        )
        temporary.replace(config_path)
        daemon.wait_for("config_reloaded", since=mark)
        settle(daemon, outputs, EAST_HOST, since=mark)
        # A SIGHUP answered "unchanged" shows that the burst of events is over.
        after = daemon.mark()
        daemon.send(signal.SIGHUP)
        daemon.wait_for("config_unchanged", since=after)

        assert 1 == len(daemon.find("config_reloaded", since=mark))
        assert 2 == len(slow_emulator.calls(api="ecr"))
        assert sorted(["ghcr.io", WEST_HOST, EAST_HOST]) == sorted(outputs.auths())

    def test_a_configmap_symlink_swap_is_seen(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """Kubernetes swaps the ``..data`` symlink to a new directory: the new file applies."""
        directory = config_path.parent
        first = directory / "..2026_11_28_12_00_00.000000001"
        first.mkdir()
        (first / "config.yaml").write_text(
            config_yaml(
                endpoint=slow_emulator.url, registries=[WEST_HOST], outputs=outputs, refresh=SLOW
            )
        )
        (directory / "..data").symlink_to(first.name)
        config_path.symlink_to("..data/config.yaml")
        write_foreign(outputs)
        daemon = start_daemon(config_path)
        settle(daemon, outputs, WEST_HOST)
        mark = daemon.mark()

        second = directory / "..2026_11_28_12_05_00.000000002"
        second.mkdir()
        (second / "config.yaml").write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EAST_HOST],
                outputs=outputs,
                refresh=SLOW,
            )
        )
        (directory / "..data_tmp").symlink_to(second.name)
        (directory / "..data_tmp").replace(directory / "..data")
        (first / "config.yaml").unlink()
        first.rmdir()
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        settle(daemon, outputs, EAST_HOST, since=mark)

        assert [group_name("us-east-2", slow_emulator)] == reloaded["refreshed"]
        assert 2 == len(slow_emulator.calls(api="ecr"))

    def test_sighup_reloads(self, tmp_path, start_daemon, slow_emulator, config_path, outputs):
        """SIGHUP reloads: of a file untouched, and of one edited where no watch can see it.

        The configuration is a symlink to a file in another directory (a dotfiles checkout);
        editing that file makes no event in the configuration's directory.
        """
        elsewhere = tmp_path / "dotfiles" / "ecrd.yaml"
        elsewhere.parent.mkdir()
        elsewhere.write_text(
            config_yaml(
                endpoint=slow_emulator.url, registries=[WEST_HOST], outputs=outputs, refresh=SLOW
            )
        )
        config_path.symlink_to(elsewhere)
        daemon = start_daemon(config_path)
        settle(daemon, outputs, WEST_HOST)
        untouched = daemon.mark()

        daemon.send(signal.SIGHUP)
        daemon.wait_for("config_unchanged", since=untouched)
        reloaded_untouched = daemon.find("config_reloaded", since=untouched)
        edited = daemon.mark()
        elsewhere.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EAST_HOST],
                outputs=outputs,
                refresh=SLOW,
            )
        )
        daemon.send(signal.SIGHUP)
        reloaded = daemon.wait_for("config_reloaded", since=edited)
        settle(daemon, outputs, EAST_HOST, since=edited)

        assert [] == reloaded_untouched
        assert [group_name("us-east-2", slow_emulator)] == reloaded["refreshed"]
        assert 2 == len(slow_emulator.calls(api="ecr"))

    def test_a_file_deleted_then_created_again_applies(
        self, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """Deleted: rejected, the last good configuration runs on; created again: applied."""
        daemon = start_settled(start_daemon, slow_emulator, config_path, outputs, WEST_HOST)
        mark = daemon.mark()

        config_path.unlink()
        rejected = daemon.wait_for("config_rejected", since=mark)
        status_while_deleted = ecrd_status("--output", "json")
        write_config(slow_emulator, WEST_HOST, EAST_HOST, refresh=SLOW)
        daemon.wait_for("config_reloaded", since=mark)
        settle(daemon, outputs, EAST_HOST, since=mark)
        status_after = ecrd_status("--output", "json")

        assert str(config_path) in rejected["errors"][0]
        assert 1 == status_while_deleted.returncode
        assert str(config_path) in json.loads(status_while_deleted.stdout)["config_error"]
        assert sorted(["ghcr.io", WEST_HOST, EAST_HOST]) == sorted(outputs.auths())
        assert 0 == status_after.returncode, status_after.stdout
        assert None is json.loads(status_after.stdout)["config_error"]

    def test_a_file_deleted_then_restored_unchanged_clears_the_rejection(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """The same bytes back after a delete: no call, and `ecrd status` forgets the error."""
        daemon = start_settled(start_daemon, slow_emulator, config_path, outputs, WEST_HOST)
        text = config_path.read_text()
        mark = daemon.mark()

        config_path.unlink()
        daemon.wait_for("config_rejected", since=mark)
        status_while_deleted = ecrd_status()
        config_path.write_text(text)
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        status_after = ecrd_status("--output", "json")

        assert 1 == status_while_deleted.returncode
        assert "configuration rejected" in status_while_deleted.stdout
        assert [] == reloaded["refreshed"]
        assert 0 == status_after.returncode, status_after.stdout
        assert None is json.loads(status_after.stdout)["config_error"]
        assert 1 == len(slow_emulator.calls(api="ecr"))

    def test_a_configuration_directory_created_after_start_is_picked_up(
        self, tmp_path, start_daemon, slow_emulator, outputs
    ):
        """No directory at start (a ConfigMap not mounted yet): created later, it applies."""
        config_path = tmp_path / "later" / "ecrd" / "config.yaml"
        daemon = start_daemon(config_path)
        missing = daemon.wait_for("config_missing")
        started = daemon.wait_for("daemon_started")
        mark = daemon.mark()

        config_path.parent.mkdir(parents=True)
        config_path.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EU_HOST],
                outputs=outputs,
                refresh=SLOW,
            )
        )
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        settle(daemon, outputs, WEST_HOST, EU_HOST, since=mark)

        assert str(config_path) == missing["config"]
        assert 0 == started["groups"]
        assert sorted(
            [group_name("us-west-2", slow_emulator), group_name("eu-west-1", slow_emulator)]
        ) == sorted(reloaded["refreshed"])
        assert sorted([WEST_HOST, EU_HOST]) == sorted(outputs.auths())
        assert 2 == len(slow_emulator.calls(api="ecr"))

    def test_its_own_reads_of_the_file_set_off_no_reload(
        self, write_config, start_daemon, fast_emulator, config_path
    ):
        """One SIGHUP, one read; the read itself is no change, so no reload follows it.

        A refresh a second and a half later proves the time passed.
        """
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path)
        daemon.wait_for("token_refreshed")
        mark = daemon.mark()

        daemon.send(signal.SIGHUP)
        unchanged = daemon.wait_for("config_unchanged", since=mark)
        daemon.wait_for("token_refreshed", since=daemon.index(unchanged) + 1)

        assert 1 == len(daemon.find("config_unchanged", since=mark))

    def test_rewriting_the_same_bytes_changes_nothing(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """A save without a change (touch, rewrite): read, found unchanged, no call."""
        daemon = start_settled(start_daemon, slow_emulator, config_path, outputs, WEST_HOST)
        mark = daemon.mark()

        config_path.write_bytes(config_path.read_bytes())
        daemon.wait_for("config_unchanged", since=mark)

        assert [] == daemon.find("config_reloaded", since=mark)
        assert [] == daemon.find("refresh_scheduled", since=mark)
        assert 1 == len(slow_emulator.calls(api="ecr"))


class TestInvalidConfiguration:
    def test_an_invalid_file_is_rejected_with_its_position_and_the_old_one_runs_on(
        self, write_config, start_daemon, fast_emulator, config_path, outputs
    ):
        """An unknown key: config_rejected names FILE:2:3; refreshes go on; a fix applies."""
        good = config_yaml(endpoint=fast_emulator.url, registries=[WEST_HOST], outputs=outputs)
        config_path.write_text(good)
        daemon = start_daemon(config_path)
        daemon.wait_for("token_refreshed")
        mark = daemon.mark()

        config_path.write_text(good.replace("before_expiry", "befor_expiry"))
        rejected = daemon.wait_for("config_rejected", since=mark)
        # The last good configuration runs on: its group is refreshed again.
        daemon.wait_for("token_refreshed", since=daemon.index(rejected))
        table = ecrd_status()
        as_json = ecrd_status("--output", "json")
        fixed = daemon.mark()
        write_config(fast_emulator, WEST_HOST, EAST_HOST, refresh=FAST)
        daemon.wait_for("config_reloaded", since=fixed)
        settle(daemon, outputs, EAST_HOST, since=fixed)
        after = ecrd_status("--output", "json")

        assert rejected["errors"][0].startswith(f"{config_path}:2:3: ")
        assert "before_expiry" in rejected["errors"][0]
        assert 1 == table.returncode
        assert f"{config_path}:2:3:" in table.stdout
        assert "configuration rejected" in table.stdout
        assert 1 == as_json.returncode
        assert json.loads(as_json.stdout)["config_error"].startswith(f"{config_path}:2:3:")
        assert None is json.loads(after.stdout)["config_error"]
        assert sorted([WEST_HOST, EAST_HOST]) == sorted(outputs.auths())

    def test_an_empty_file_seen_mid_save_is_rejected_then_the_whole_file_applies(
        self, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """A save caught half-way (empty file) is rejected; the complete file then applies."""
        daemon = start_settled(start_daemon, slow_emulator, config_path, outputs, WEST_HOST)
        mark = daemon.mark()

        config_path.write_text("")
        daemon.wait_for("config_rejected", since=mark)
        write_config(slow_emulator, WEST_HOST, EAST_HOST, refresh=SLOW)
        daemon.wait_for("config_reloaded", since=mark)
        settle(daemon, outputs, EAST_HOST, since=mark)

        assert sorted(["ghcr.io", WEST_HOST, EAST_HOST]) == sorted(outputs.auths())
        assert 2 == len(slow_emulator.calls(api="ecr"))


class TestDifferenceApplied:
    def test_a_removed_registry_leaves_the_outputs_and_foreign_entries_stay(
        self, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """eu-west-1 removed: its entries leave both files at once; ghcr.io and example.com stay."""
        daemon = start_settled(
            start_daemon, slow_emulator, config_path, outputs, WEST_HOST, EU_HOST
        )
        mark = daemon.mark()

        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        docker = daemon.wait_for("output_written", since=mark, path=str(outputs.docker))
        netrc = daemon.wait_for("output_written", since=mark, path=str(outputs.netrc))
        status = json.loads(ecrd_status("--output", "json").stdout)

        assert [group_name("eu-west-1", slow_emulator)] == reloaded["removed"]
        assert [] == reloaded["refreshed"]
        assert [EU_HOST] == docker["removed"]
        assert [EU_HOST] == netrc["removed"]
        assert FOREIGN_DOCKER["auths"]["ghcr.io"] == outputs.auths()["ghcr.io"]
        assert sorted(["ghcr.io", WEST_HOST]) == sorted(outputs.auths())
        assert ["example.com", WEST_HOST] == netrc_machines(outputs)
        assert [WEST_HOST] == [h["host"] for h in status["hosts"]]
        assert 2 == len(slow_emulator.calls(api="ecr"))

    def test_a_new_output_is_written_at_once_without_a_call(
        self, tmp_path, start_daemon, slow_emulator, config_path, outputs
    ):
        """A third output: written at once with the tokens in memory; AWS is not called."""
        daemon = start_settled(
            start_daemon, slow_emulator, config_path, outputs, WEST_HOST, EU_HOST
        )
        extra = tmp_path / "podman" / "auth.json"
        mark = daemon.mark()

        config_path.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EU_HOST],
                outputs=[
                    ("docker", outputs.docker),
                    ("netrc", outputs.netrc),
                    ("docker", extra),
                ],
                refresh=SLOW,
            )
        )
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        written = daemon.wait_for("output_written", since=mark, path=str(extra))

        assert [] == reloaded["refreshed"]
        assert sorted([WEST_HOST, EU_HOST]) == sorted(written["hosts"])
        assert {h: outputs.auths()[h] for h in (WEST_HOST, EU_HOST)} == json.loads(
            extra.read_text()
        )["auths"]
        assert 2 == len(slow_emulator.calls(api="ecr"))
        assert [] == daemon.find("token_refreshed", since=mark)

    def test_a_removed_output_loses_ecrds_entries_only(
        self, start_daemon, slow_emulator, config_path, outputs
    ):
        """The netrc output removed: ecrd's machines leave it, the rest stays byte for byte."""
        daemon = start_settled(
            start_daemon, slow_emulator, config_path, outputs, WEST_HOST, EU_HOST
        )
        mark = daemon.mark()

        config_path.write_text(
            config_yaml(
                endpoint=slow_emulator.url,
                registries=[WEST_HOST, EU_HOST],
                outputs=[("docker", outputs.docker)],
                refresh=SLOW,
            )
        )
        daemon.wait_for("config_reloaded", since=mark)
        written = daemon.wait_for("output_written", since=mark, path=str(outputs.netrc))

        assert sorted([WEST_HOST, EU_HOST]) == sorted(written["removed"])
        assert FOREIGN_NETRC == outputs.netrc.read_text()
        assert sorted(["ghcr.io", WEST_HOST, EU_HOST]) == sorted(outputs.auths())
        assert 2 == len(slow_emulator.calls(api="ecr"))

    def test_unchanged_groups_keep_their_schedule_and_make_no_call(
        self, write_config, start_daemon, fast_emulator, config_path
    ):
        """Adding us-east-2 neither calls for us-west-2 nor moves its next refresh."""
        write_config(fast_emulator, WEST_HOST, refresh=FAST)
        daemon = start_daemon(config_path)
        refreshed = daemon.wait_for("token_refreshed", hosts=[WEST_HOST])
        scheduled = daemon.wait_for("refresh_scheduled", since=daemon.index(refreshed) + 1)
        mark = daemon.mark()

        write_config(fast_emulator, WEST_HOST, EAST_HOST, refresh=FAST)
        daemon.wait_for("config_reloaded", since=mark)
        daemon.wait_for("token_refreshed", since=mark, hosts=[EAST_HOST])
        west_next = daemon.wait_for("token_refreshed", since=mark, hosts=[WEST_HOST])
        west_calls = [c for c in fast_emulator.calls(api="ecr") if c.region == "us-west-2"]
        rescheduled = daemon.find("refresh_scheduled", since=mark, hosts=[WEST_HOST])

        # The one refresh_scheduled for us-west-2 since the reload follows its own refresh.
        assert [] == [e for e in rescheduled if daemon.index(e) < daemon.index(west_next)]
        assert 2 == len(west_calls)
        assert parse_time(scheduled["at"]) <= west_calls[1].at

    def test_a_group_changed_while_its_fetch_hangs_is_fetched_again_after_it(
        self, write_config, start_daemon, slow_emulator, config_path, outputs
    ):
        """A registry joins us-west-2 while its call hangs: once it answers, both are fetched."""
        slow_emulator.inject(Fault(kind="hang", count=None))
        write_config(slow_emulator, WEST_HOST, refresh=SLOW)
        daemon = start_daemon(config_path)
        slow_emulator.wait_for_calls(1, api="ecr")
        mark = daemon.mark()

        write_config(slow_emulator, WEST_HOST, WEST2_HOST, refresh=SLOW)
        reloaded = daemon.wait_for("config_reloaded", since=mark)
        slow_emulator.clear_faults()
        daemon.wait_for("token_refreshed", since=mark, hosts=[WEST_HOST, WEST2_HOST], count=2)
        settle(daemon, outputs, WEST2_HOST, since=mark)
        calls = slow_emulator.calls(api="ecr")

        assert [group_name("us-west-2", slow_emulator)] == reloaded["refreshed"]
        assert [(WEST,), (WEST, WEST2)] == [c.registry_ids for c in calls]
        assert sorted([WEST_HOST, WEST2_HOST]) == sorted(outputs.auths())
        assert [] == daemon.stray
