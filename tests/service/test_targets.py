"""`ecrd service install | uninstall | print`: what it writes, runs and says.

systemctl and launchctl are small shell scripts placed first on PATH that record their
arguments. HOME and XDG_CONFIG_HOME are the test's own (conftest.py), and the machine's root
is a temporary directory, passed in-process as the root context's ``obj`` (a ``System``):
nothing outside the test's directory is touched.
"""

from __future__ import annotations

import os
import plistlib
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ecrd.cli import cli
from ecrd.config import load_config
from ecrd.errors import ServiceError
from ecrd.service.configuration import example_config
from ecrd.service.launchd import render_plist
from ecrd.service.systemd import render_drop_in, render_template_unit, render_user_unit
from ecrd.service.targets import Kind, System, default_kind, find_ecrd

REPO = Path(__file__).resolve().parents[2]


class Machine:
    """The ``System`` the commands of this test run on."""

    system = System()


@pytest.fixture(autouse=True)
def etc(tmp_path: Path) -> Path:
    """/etc of the test's own: the System's root stands for '/'."""
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    Machine.system = System(root=root)
    return root / "etc"


@pytest.fixture
def as_root(etc: Path) -> None:
    Machine.system = System(root=etc.parent, euid=0)


@pytest.fixture
def as_user(etc: Path) -> None:
    Machine.system = System(root=etc.parent, euid=1000)


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Users 'ci' and 'cd' with homes in the test's directory, 'ecrd-test-web' in /home."""
    homes = {"ci": tmp_path / "homes" / "ci", "cd": tmp_path / "homes" / "cd"}
    for home in homes.values():
        home.mkdir(parents=True)
    homes["ecrd-test-web"] = Path("/home/ecrd-test-web")

    def getpwnam(name: str) -> pwd.struct_passwd:
        if name not in homes:
            raise KeyError(name)
        return pwd.struct_passwd(
            (name, "x", os.getuid(), os.getgid(), "", str(homes[name]), "/bin/sh")
        )

    monkeypatch.setattr(pwd, "getpwnam", getpwnam)
    return homes


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=Machine.system)


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestFindEcrd:
    def test_prefers_the_console_script_next_to_the_running_python(self, ecrd):
        """The ecrd beside sys.executable wins over the script the process started as."""
        actual = find_ecrd(executable=sys.executable, argv0="/usr/bin/ecrd")

        assert ecrd == actual

    def test_else_the_script_it_started_as_resolved(self, tmp_path):
        """Without one beside Python, the script named ecrd that was run, symlinks resolved."""
        real = tmp_path / "opt" / "ecrd"
        real.parent.mkdir()
        real.write_text("#!/bin/sh\n")
        real.chmod(0o755)
        link = tmp_path / "ecrd"
        link.symlink_to(real)

        actual = find_ecrd(executable=str(tmp_path / "nowhere" / "python"), argv0=str(link))

        assert real == actual

    def test_another_program_is_not_taken_for_ecrd(self, tmp_path):
        """A process started as something else (pytest) does not name itself: ServiceError."""
        pytest_script = tmp_path / "pytest"
        pytest_script.write_text("#!/bin/sh\n")
        pytest_script.chmod(0o755)

        with pytest.raises(ServiceError, match="cannot find this installation's ecrd command"):
            find_ecrd(executable=str(tmp_path / "python"), argv0=str(pytest_script))


class TestDefaultKind:
    def test_launchd_on_macos_the_user_unit_elsewhere(self):
        """The default kind is the launchd agent on macOS, the systemd user unit elsewhere."""
        actual = [default_kind(platform=p) for p in ("darwin", "linux", "freebsd14")]

        assert [Kind.LAUNCHD, Kind.SYSTEMD_USER, Kind.SYSTEMD_USER] == actual

    @pytest.mark.usefixtures("ecrd")
    def test_print_without_a_kind_follows_the_platform(self, monkeypatch):
        """`ecrd service print` prints the user unit on Linux, the plist on macOS."""
        monkeypatch.setattr(sys, "platform", "linux")
        linux = run("service", "print").stdout
        monkeypatch.setattr(sys, "platform", "darwin")
        macos = run("service", "print").stdout

        assert ("# ecrd as a systemd user service", "<?xml") == (linux[:32], macos[:5])


class TestPrint:
    def test_user_unit_with_this_ecrd_and_the_default_configuration(self, isolated_env, ecrd):
        """Printed: the unit install writes, with this ecrd and ~/.config/ecrd/config.yaml."""
        result = run("service", "print", "--systemd-user")

        assert 0 == result.exit_code, result.output
        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        assert render_user_unit(ecrd=ecrd, config=config) == result.stdout

    def test_config_option_before_or_after_the_command_the_later_winning(self, tmp_path, ecrd):
        """-c is accepted before `service`, after it, and after `print`; the last one wins."""
        first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"

        outputs = [
            run("-c", str(first), "service", "print", "--systemd-user").stdout,
            run("service", "-c", str(first), "print", "--systemd-user").stdout,
            run("-c", str(first), "service", "print", "--systemd-user", "-c", str(second)).stdout,
        ]

        assert [
            render_user_unit(ecrd=ecrd, config=first),
            render_user_unit(ecrd=ecrd, config=first),
            render_user_unit(ecrd=ecrd, config=second),
        ] == outputs

    def test_relative_config_becomes_absolute(self, tmp_path, monkeypatch, ecrd):
        """A relative --config is made absolute: a service has no working directory of ours."""
        monkeypatch.chdir(tmp_path)

        result = run("service", "print", "--systemd-user", "--config", "ecrd.yaml")

        assert render_user_unit(ecrd=ecrd, config=tmp_path / "ecrd.yaml") == result.stdout

    def test_system_template_and_the_users_drop_in(self, etc, users, ecrd):
        """--systemd-system USER prints the template and USER's drop-in, as `systemctl cat` does.

        Issue 12: the drop-in states the environment ecrd@USER runs with.
        """
        result = run("service", "print", "--systemd-system", "ci")

        units = etc / "systemd" / "system"
        config = users["ci"] / ".config" / "ecrd" / "config.yaml"
        assert (
            0,
            (
                f"# {units}/ecrd@.service\n{render_template_unit(ecrd=ecrd)}\n"
                f"# {units}/ecrd@ci.service.d/ecrd.conf\n"
                f"{render_drop_in(user='ci', config=config, home=users['ci'])}"
            ),
        ) == (result.exit_code, result.stdout)
        assert ["STATE_DIRECTORY=/var/lib/ecrd/ci", f"ECRD_CONFIG={config}"] == [
            line.removeprefix("#   ")
            for line in result.stdout.partition("ecrd.conf\n")[2].splitlines()
            if line.startswith("#   ") and "=" in line
        ]

    @pytest.mark.usefixtures("ecrd")
    def test_system_print_for_an_unknown_user_is_an_error(self):
        """The drop-in needs the user's home: an unknown user is an error naming it."""
        result = run("service", "print", "--systemd-system", "nobody-here")

        assert 1 == result.exit_code
        assert "Error: there is no user 'nobody-here' on this host" in result.stderr

    def test_launchd_plist(self, isolated_env, ecrd):
        """--launchd prints the property list with this ecrd and the configuration."""
        result = run("service", "print", "--launchd")

        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        assert render_plist(ecrd=ecrd, config=config, home=isolated_env).decode() == result.stdout
        assert [str(ecrd), "run", "--config", str(config)] == plistlib.loads(
            result.stdout.encode()
        )["ProgramArguments"][5:9]

    @pytest.mark.usefixtures("ecrd", "users")
    def test_prints_and_touches_nothing(self, tmp_path, tools):
        """Printing writes no file and runs no command."""
        before = files_under(tmp_path)

        run("service", "print", "--systemd-user")
        run("service", "print", "--systemd-system", "ci")
        run("service", "print", "--launchd")

        assert (before, []) == (files_under(tmp_path), tools.calls())

    def test_without_this_installations_ecrd_it_fails_with_a_message(self, tmp_path, monkeypatch):
        """No ecrd beside Python, and the process is not ecrd (it is pytest): exit 1, why."""
        monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))

        result = run("service", "print")

        assert 1 == result.exit_code
        assert "Error: cannot find this installation's ecrd command" in result.stderr

    @pytest.mark.usefixtures("ecrd")
    def test_kinds_are_mutually_exclusive(self):
        """Two kinds at once is a usage error, exit 2."""
        result = run("service", "print", "--launchd", "--systemd-system", "ci")

        assert 2 == result.exit_code
        assert "choose one of --systemd-user, --systemd-system USER, --launchd" in result.stderr

    @pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
    @pytest.mark.usefixtures("ecrd", "users")
    def test_printed_units_pass_systemd_analyze(self, tmp_path, etc):
        """The printed units verify without a warning; the template is rated OK (<= 3.0)."""
        (tmp_path / "run").mkdir(mode=0o700)
        env = {"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(tmp_path / "run")}
        user = tmp_path / "ecrd.service"
        user.write_text(run("service", "print", "--systemd-user").stdout)
        template = tmp_path / "ecrd@.service"
        printed = run("service", "print", "--systemd-system", "ci").stdout
        drop_in = f"\n# {etc}/systemd/system/ecrd@ci.service.d/"
        template.write_text(printed.partition(drop_in)[0].partition("\n")[2])

        results = [
            subprocess.run(
                ["systemd-analyze", *args], capture_output=True, text=True, check=False, env=env
            )
            for args in (
                ["--user", "verify", str(user)],
                ["verify", str(template)],
                ["security", "--offline=true", "--threshold=30", str(template)],
            )
        ]

        assert [(0, ""), (0, ""), 0] == [
            (results[0].returncode, results[0].stderr),
            (results[1].returncode, results[1].stderr),
            results[2].returncode,
        ]


OWN_CONFIG = "registries: []\n"


def own_config(path: Path) -> Path:
    """A configuration of the user's own (not the example): install starts ecrd on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OWN_CONFIG)
    return path


class TestInstallUserUnit:
    def lines(self, home: Path, ecrd: Path, *, verb: str = "wrote") -> list[str]:
        """What a first install on no configuration says (issue 13: enabled, not started)."""
        config = home / ".config" / "ecrd" / "config.yaml"
        unit = home / ".config" / "systemd" / "user" / "ecrd.service"
        return [
            f"created {config} from the example",
            f"{verb} {unit} (runs {ecrd} run --config {config})",
            "ran systemctl --user daemon-reload",
            "ran systemctl --user enable ecrd.service",
            "  Created symlink /x/default.target.wants/ecrd.service.",
            f"not started: {config} is the example, with placeholder registries; edit it (check it with `ecrd check-config -c {config}`), then start ecrd: systemctl --user start ecrd",
            f"ecrd runs while you are logged in; to keep it running after you log out: loginctl enable-linger {pwd.getpwuid(os.getuid()).pw_name}",
            "status: systemctl --user status ecrd",
            "logs:   journalctl --user -u ecrd -f",
        ]

    def test_dry_run_says_each_step_and_touches_nothing(self, tmp_path, isolated_env, tools, ecrd):
        """--dry-run lists what install would do, writes nothing and runs nothing."""
        before = files_under(tmp_path)

        result = run("service", "install", "--systemd-user", "--dry-run")

        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert 0 == result.exit_code, result.output
        assert [
            f"would create {config} from the example",
            f"would write {unit} (runs {ecrd} run --config {config})",
            "would run systemctl --user daemon-reload",
            "would run systemctl --user enable ecrd.service",
        ] == result.stdout.splitlines()[:4]
        assert (before, []) == (files_under(tmp_path), tools.calls())

    def test_on_no_configuration_it_copies_the_example_and_does_not_start(
        self, isolated_env, tools, ecrd
    ):
        """Issue 13: the example is created 0600, the unit enabled, not started; says what next."""
        result = run("service", "install", "--systemd-user")

        assert 0 == result.exit_code, result.output
        assert self.lines(isolated_env, ecrd) == result.stdout.splitlines()
        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert render_user_unit(ecrd=ecrd, config=config) == unit.read_text()
        assert (example_config(), 0o600, 0o700) == (
            config.read_bytes(),
            mode(config),
            mode(config.parent),
        )
        assert [
            "systemctl --user daemon-reload",
            "systemctl --user enable ecrd.service",
        ] == tools.calls()

    @pytest.mark.usefixtures("ecrd")
    def test_an_unedited_example_is_still_not_started(self, isolated_env, tools):
        """Installing again before editing the example still enables without starting."""
        run("service", "install")
        tools.forget()

        result = run("service", "install")

        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        assert (
            f"configuration: {config} (exists, still the example)" == result.stdout.splitlines()[0]
        )
        assert ["systemctl --user enable ecrd.service"] == tools.calls()

    def test_on_the_users_own_configuration_it_starts(self, isolated_env, tools, ecrd):
        """With a configuration of the user's own: the unit is written, enabled and started."""
        config = own_config(isolated_env / ".config" / "ecrd" / "config.yaml")

        result = run("service", "install")

        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert 0 == result.exit_code, result.output
        assert [
            f"configuration: {config} (exists, left as it is)",
            f"wrote {unit} (runs {ecrd} run --config {config})",
            "ran systemctl --user daemon-reload",
            "ran systemctl --user enable --now ecrd.service",
            "  Created symlink /x/default.target.wants/ecrd.service.",
        ] == result.stdout.splitlines()[:5]
        assert "not started" not in result.stdout
        assert [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now ecrd.service",
        ] == tools.calls()

    @pytest.mark.usefixtures("ecrd")
    def test_second_install_changes_nothing_and_makes_sure_it_runs(self, isolated_env, tools):
        """Installing again rewrites nothing, says "already installed", still enables --now."""
        own_config(isolated_env / ".config" / "ecrd" / "config.yaml")
        run("service", "install")
        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        before = unit.stat()
        tools.forget()

        result = run("service", "install")

        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        assert [
            f"configuration: {config} (exists, left as it is)",
            f"already installed: {unit} is up to date",
            "ran systemctl --user enable --now ecrd.service",
        ] == result.stdout.splitlines()[:3]
        assert ["systemctl --user enable --now ecrd.service"] == tools.calls()
        assert (before.st_ino, before.st_mtime_ns) == (unit.stat().st_ino, unit.stat().st_mtime_ns)

    def test_changed_unit_is_rewritten_reloaded_and_restarted(
        self, tmp_path, isolated_env, tools, ecrd
    ):
        """Another configuration path changes the unit: updated, daemon-reload, restart."""
        run("service", "install")
        tools.forget()
        other = own_config(tmp_path / "other.yaml")

        result = run("service", "install", "-c", str(other))

        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert f"updated {unit} (runs {ecrd} run --config {other})" in result.stdout.splitlines()
        assert [
            "systemctl --user daemon-reload",
            "systemctl --user enable ecrd.service",
            "systemctl --user restart ecrd.service",
        ] == tools.calls()
        assert render_user_unit(ecrd=ecrd, config=other) == unit.read_text()

    @pytest.mark.usefixtures("tools", "ecrd")
    def test_existing_configuration_is_never_overwritten(self, isolated_env):
        """A configuration that exists stays byte for byte, with its mode."""
        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        config.parent.mkdir(parents=True)
        config.write_text("registries: []\n")
        config.chmod(0o640)

        result = run("service", "install")

        assert 0 == result.exit_code, result.output
        assert ("registries: []\n", 0o640) == (config.read_text(), mode(config))

    @pytest.mark.usefixtures("tools")
    def test_systemctl_failing_undoes_what_install_wrote(
        self, tmp_path, isolated_env, ecrd, monkeypatch
    ):
        """Issue 13: a failing systemctl fails install (exit 1), and what install wrote is removed.

        The unit, the configuration and the directories made for them; its message is said.
        """
        monkeypatch.setenv("ECRD_TEST_SYSTEMCTL_FAILS", "Unit ecrd.service has a bad setting.")
        before = files_under(tmp_path)

        result = run("service", "install")

        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert 1 == result.exit_code
        assert (
            "Error: `systemctl --user daemon-reload` failed (exit status 1): Unit ecrd.service has a bad setting.\n"
            == result.stderr
        )
        assert [
            *self.lines(isolated_env, ecrd)[:2],
            f"removed {unit} again; removed {unit.parent}, {unit.parent.parent} again",
            f"removed {config} again; removed {config.parent}, {config.parent.parent} again",
        ] == result.stdout.splitlines()
        assert before == [f for f in files_under(tmp_path) if f != "tools.log"]

    @pytest.mark.usefixtures("tools", "ecrd")
    def test_systemctl_failing_puts_a_changed_unit_back(self, tmp_path, isolated_env, monkeypatch):
        """A unit install changed is put back as it was; a configuration of the user's stays."""
        own_config(isolated_env / ".config" / "ecrd" / "config.yaml")
        run("service", "install")
        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        installed = unit.read_bytes()
        monkeypatch.setenv("ECRD_TEST_SYSTEMCTL_FAILS", "Failed to connect to bus: No medium found")

        result = run("service", "install", "-c", str(own_config(tmp_path / "other.yaml")))

        assert 1 == result.exit_code
        assert f"put {unit} back as it was" == result.stdout.splitlines()[-1]
        assert (installed, OWN_CONFIG) == (
            unit.read_bytes(),
            (isolated_env / ".config" / "ecrd" / "config.yaml").read_text(),
        )

    @pytest.mark.usefixtures("tools", "ecrd")
    def test_no_user_manager_says_where_to_run_it(self, monkeypatch):
        """Without a user manager (sudo, su, no session) the error says what to do instead."""
        monkeypatch.setenv("ECRD_TEST_SYSTEMCTL_FAILS", "Failed to connect to bus: No medium found")

        result = run("service", "install")

        assert 1 == result.exit_code
        assert (
            "run this as that user in a session of theirs (not through sudo or su)" in result.stderr
        )

    @pytest.mark.usefixtures("ecrd")
    def test_without_systemctl_the_error_says_so(self, tmp_path, monkeypatch):
        """No systemctl on PATH: exit 1, the message names it."""
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))

        result = run("service", "install", "--systemd-user")

        assert 1 == result.exit_code
        assert (
            "Error: cannot run `systemctl --user daemon-reload`: systemctl is not on PATH (this kind of service is for hosts running systemd)\n"
            == result.stderr
        )


class TestUninstallUserUnit:
    @pytest.mark.usefixtures("ecrd")
    def test_stops_removes_and_keeps_configuration_and_state(self, isolated_env, tools):
        """Uninstalling stops ecrd, removes the unit, keeps the configuration and the state."""
        run("service", "install")
        tools.forget()

        result = run("service", "uninstall")

        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        config = isolated_env / ".config" / "ecrd" / "config.yaml"
        state = isolated_env / ".local" / "state" / "ecrd"
        assert [
            "ran systemctl --user disable --now ecrd.service",
            f"removed {unit}",
            "ran systemctl --user daemon-reload",
            f"kept the configuration {config} and the state {state}",
        ] == result.stdout.splitlines()
        assert (False, True) == (unit.exists(), config.exists())
        assert [
            "systemctl --user disable --now ecrd.service",
            "systemctl --user daemon-reload",
        ] == tools.calls()

    @pytest.mark.usefixtures("ecrd")
    def test_systemctl_failing_still_removes_the_unit_and_exits_1(
        self, isolated_env, tools, monkeypatch
    ):
        """Issue 13: with no user manager, uninstall still removes the unit file, and exits 1.

        Exit 1: ecrd may still be loaded in the manager it could not reach; it says why.
        """
        run("service", "install")
        tools.forget()
        monkeypatch.setenv("ECRD_TEST_SYSTEMCTL_FAILS", "Failed to connect to bus: No medium found")

        result = run("service", "uninstall")

        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert (1, False) == (result.exit_code, unit.exists())
        assert f"removed {unit}" in result.stdout.splitlines()
        assert result.stderr.startswith(
            "Error: `systemctl --user disable --now ecrd.service` failed (exit status 1): "
            "Failed to connect to bus: No medium found"
        )
        assert result.stderr.endswith("; the other steps were done\n")
        assert 2 == len(tools.calls())

    @pytest.mark.usefixtures("ecrd")
    def test_not_installed_says_so_and_runs_nothing(self, isolated_env, tools):
        """Without a unit, uninstall says so, exits 0 and runs nothing."""
        result = run("service", "uninstall", "--systemd-user")

        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert (0, f"not installed: there is no {unit}\n", []) == (
            result.exit_code,
            result.stdout,
            tools.calls(),
        )

    @pytest.mark.usefixtures("ecrd")
    def test_dry_run_touches_nothing(self, tmp_path, isolated_env, tools):
        """Uninstalling with --dry-run says the steps, removes nothing and runs nothing."""
        run("service", "install")
        tools.forget()
        before = files_under(tmp_path)

        result = run("service", "uninstall", "--dry-run")

        unit = isolated_env / ".config" / "systemd" / "user" / "ecrd.service"
        assert [
            "would run systemctl --user disable --now ecrd.service",
            f"would remove {unit}",
            "would run systemctl --user daemon-reload",
        ] == result.stdout.splitlines()[:3]
        assert (before, []) == (files_under(tmp_path), tools.calls())


class TestInstallTemplate:
    @pytest.mark.usefixtures("users", "ecrd", "as_user")
    def test_needs_root(self, etc, tools):
        """As another user than root: exit 1, saying to use sudo; nothing written or run."""
        result = run("service", "install", "--systemd-system", "ci")

        assert 1 == result.exit_code
        assert (
            "Error: --systemd-system writes under /etc/systemd/system and runs systemctl for the whole system: run it as root (sudo ecrd service install --systemd-system ci)\n"
            == result.stderr
        )
        assert ([], []) == (files_under(etc / "systemd" / "system"), tools.calls())

    @pytest.mark.usefixtures("as_user")
    def test_dry_run_as_a_user_says_it_needs_root_and_touches_nothing(
        self, tmp_path, etc, users, tools, ecrd
    ):
        """A user may preview the steps; the first line says that the real run needs root."""
        before = files_under(tmp_path)

        result = run("service", "install", "--systemd-system", "ci", "--dry-run")

        config = users["ci"] / ".config" / "ecrd" / "config.yaml"
        assert 0 == result.exit_code, result.output
        assert [
            "(this needs root: sudo ecrd service install --systemd-system ci)",
            f"would create {config} from the example",
            f"would write {etc}/systemd/system/ecrd@.service (runs {ecrd} run as the instance's user)",
            f"would write {etc}/systemd/system/ecrd@ci.service.d/ecrd.conf (ecrd@ci reads {config} and may write in {users['ci']})",
            "would run systemctl daemon-reload",
            "would run systemctl enable ecrd@ci.service",
        ] == result.stdout.splitlines()[:6]
        assert (before, []) == (files_under(tmp_path), tools.calls())

    @pytest.mark.usefixtures("users", "tools", "ecrd", "as_root")
    def test_unknown_user_is_an_error(self):
        """A user this host does not know: exit 1, naming it."""
        result = run("service", "install", "--systemd-system", "nobody-here")

        assert 1 == result.exit_code
        assert "Error: there is no user 'nobody-here' on this host" in result.stderr

    @pytest.mark.usefixtures("users", "tools", "ecrd", "as_root")
    def test_name_that_cannot_be_an_instance_is_an_error(self):
        """A name systemd cannot take as an instance (a space, '/') is refused."""
        result = run("service", "install", "--systemd-system", "a b/c")

        assert 1 == result.exit_code
        assert "Error: 'a b/c' cannot name a systemd instance" in result.stderr

    @pytest.mark.usefixtures("as_root")
    def test_writes_template_drop_in_and_configuration_in_the_home(self, etc, users, tools, ecrd):
        """Installing writes the template, the drop-in and ~USER/.config/ecrd/config.yaml.

        Issue 12: the configuration is created where `ecrd status`, run by USER with no
        option, looks (it was /etc/ecrd/USER.yaml). Issue 13: on the example, ecrd@USER is
        enabled, not started.
        """
        result = run("service", "install", "--systemd-system", "ci")

        units = etc / "systemd" / "system"
        config = users["ci"] / ".config" / "ecrd" / "config.yaml"
        assert 0 == result.exit_code, result.output
        assert [
            f"created {config} from the example",
            f"wrote {units}/ecrd@.service (runs {ecrd} run as the instance's user)",
            f"wrote {units}/ecrd@ci.service.d/ecrd.conf (ecrd@ci reads {config} and may write in {users['ci']})",
            "ran systemctl daemon-reload",
            "ran systemctl enable ecrd@ci.service",
            "  Created symlink /x/default.target.wants/ecrd.service.",
            f"not started: {config} is the example, with placeholder registries; edit it (check it with `ecrd check-config -c {config}`), then start ecrd: systemctl start ecrd@ci",
            "status: systemctl status ecrd@ci",
            "logs:   journalctl -u ecrd@ci -f",
            f"state:  /var/lib/ecrd/ci (sudo -u ci -H {ecrd} status)",
            (
                "metrics: for metrics.textfile: /var/lib/prometheus/node-exporter/ecrd-ci.prom,"
                " let ci write /var/lib/prometheus/node-exporter:"
                " setfacl -m u:ci:rwx /var/lib/prometheus/node-exporter (Debian package acl)"
            ),
        ] == result.stdout.splitlines()
        assert render_template_unit(ecrd=ecrd) == (units / "ecrd@.service").read_text()
        assert (
            render_drop_in(user="ci", config=config, home=users["ci"])
            == (units / "ecrd@ci.service.d" / "ecrd.conf").read_text()
        )
        assert (example_config(), 0o600, 0o700) == (
            config.read_bytes(),
            mode(config),
            mode(config.parent),
        )
        assert not (etc / "ecrd").exists()
        assert [
            "systemctl daemon-reload",
            "systemctl enable ecrd@ci.service",
        ] == tools.calls()

    @pytest.mark.usefixtures("users", "ecrd", "as_root")
    def test_on_a_configuration_of_its_own_the_instance_starts(self, etc, tools):
        """An /etc/ecrd/USER.yaml that is not the example: ecrd@USER is enabled and started."""
        own_config(etc / "ecrd" / "ci.yaml")

        result = run("service", "install", "--systemd-system", "ci")

        assert 0 == result.exit_code, result.output
        assert "not started" not in result.stdout
        assert ["systemctl daemon-reload", "systemctl enable --now ecrd@ci.service"] == (
            tools.calls()
        )

    @pytest.mark.usefixtures("tools", "ecrd", "as_root")
    def test_the_users_own_configuration_is_used_when_there_is_one(self, etc, users):
        """~USER/.config/ecrd/config.yaml, when it exists, is the one the drop-in names."""
        config = users["ci"] / ".config" / "ecrd" / "config.yaml"
        config.parent.mkdir(parents=True)
        config.write_text("registries: []\n")

        result = run("service", "install", "--systemd-system", "ci")

        assert f"configuration: {config} (exists, left as it is)" == result.stdout.splitlines()[0]
        drop_in = etc / "systemd" / "system" / "ecrd@ci.service.d" / "ecrd.conf"
        assert f"Environment=ECRD_CONFIG={config}" in drop_in.read_text().splitlines()
        assert not (etc / "ecrd").exists()

    @pytest.mark.usefixtures("tools", "ecrd", "as_root")
    def test_configuration_created_in_the_users_home_is_private(self, users):
        """A configuration created in the user's home is 0600 in 0700 directories, theirs."""
        config = users["ci"] / ".config" / "ecrd" / "config.yaml"

        run("service", "install", "--systemd-system", "ci", "-c", str(config))

        assert (0o600, 0o700, 0o700, os.getuid()) == (
            mode(config),
            mode(config.parent),
            mode(config.parent.parent),
            config.stat().st_uid,
        )

    @pytest.mark.usefixtures("users", "tools", "ecrd", "as_root")
    def test_home_the_template_covers_needs_no_read_write_path(self, etc):
        """A home at /home/USER needs no ReadWritePaths= of its own; a missing home is reported."""
        result = run("service", "install", "--systemd-system", "ecrd-test-web")

        drop_in = etc / "systemd" / "system" / "ecrd@ecrd-test-web.service.d" / "ecrd.conf"
        config = etc / "ecrd" / "ecrd-test-web.yaml"
        assert render_drop_in(user="ecrd-test-web", config=config, home=None) == (
            drop_in.read_text()
        )
        assert (
            "ecrd-test-web's home /home/ecrd-test-web does not exist: ecrd cannot write files there"
            in result.stdout.splitlines()
        )

    @pytest.mark.usefixtures("as_root")
    @pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["install", "dry-run"])
    def test_an_ecrd_the_user_cannot_reach_is_refused(self, ecrd, monkeypatch, etc, tools, dry_run):
        """An ecrd closed to the user (pipx as root puts it in /root): exit 1, nothing written.

        `--dry-run` says the same.
        """
        ecrd.parent.parent.chmod(0o700)
        outsider = pwd.struct_passwd(
            ("outsider", "x", 65533, 65533, "", "/nonexistent-ecrd-test", "/bin/sh")
        )
        monkeypatch.setattr(pwd, "getpwnam", {"outsider": outsider}.__getitem__)

        result = run("service", "install", "--systemd-system", "outsider", *dry_run)

        expected = (
            f"Error: outsider cannot run {ecrd}: {ecrd.parent.parent} is closed to outsider, so"
            " ecrd@outsider could never start; nothing was installed. Install ecrd where"
            " outsider can run it (as root: pipx install --global ecrd, which puts it under"
            " /opt/pipx; or the ecrd .deb, in /opt/ecrd), then run `service install` with that"
            " ecrd\n"
        )
        assert (1, expected, "") == (result.exit_code, result.stderr, result.stdout)
        assert ([], ["systemd", "systemd/system"]) == (tools.calls(), files_under(etc))

    @pytest.mark.usefixtures("users", "ecrd", "as_root")
    def test_second_user_shares_the_template(self, etc, tools):
        """A second user gets a drop-in of its own; the template is already installed."""
        own_config(etc / "ecrd" / "cd.yaml")
        run("service", "install", "--systemd-system", "ci")
        tools.forget()

        result = run("service", "install", "--systemd-system", "cd")

        units = etc / "systemd" / "system"
        assert (
            f"already installed: {units}/ecrd@.service is up to date" in result.stdout.splitlines()
        )
        assert (units / "ecrd@cd.service.d" / "ecrd.conf").exists()
        assert [
            "systemctl daemon-reload",
            "systemctl enable --now ecrd@cd.service",
        ] == tools.calls()

    @pytest.mark.usefixtures("users", "ecrd", "as_root")
    def test_second_install_changes_nothing(self, etc, tools):
        """Installing again: every file already installed, ecrd@USER still enabled and started."""
        own_config(etc / "ecrd" / "ci.yaml")
        run("service", "install", "--systemd-system", "ci")
        tools.forget()

        result = run("service", "install", "--systemd-system", "ci")

        units = etc / "systemd" / "system"
        assert [
            f"configuration: {etc}/ecrd/ci.yaml (exists, left as it is)",
            f"already installed: {units}/ecrd@.service is up to date",
            f"already installed: {units}/ecrd@ci.service.d/ecrd.conf is up to date",
            "ran systemctl enable --now ecrd@ci.service",
        ] == result.stdout.splitlines()[:4]
        assert ["systemctl enable --now ecrd@ci.service"] == tools.calls()

    @pytest.mark.usefixtures("users", "as_root")
    def test_changed_template_restarts_the_instance_and_names_the_others(
        self, tmp_path, etc, tools, ecrd, monkeypatch
    ):
        """A new ecrd path updates the template: this instance restarts, the others are named."""
        own_config(etc / "ecrd" / "ci.yaml")
        run("service", "install", "--systemd-system", "ci")
        run("service", "install", "--systemd-system", "cd")
        tools.forget()
        moved = tmp_path / "new" / "bin"
        moved.mkdir(parents=True)
        shutil.copy2(ecrd, moved / "ecrd")
        monkeypatch.setattr(sys, "executable", str(moved / "python3"))

        result = run("service", "install", "--systemd-system", "ci")

        assert [
            "systemctl daemon-reload",
            "systemctl enable ecrd@ci.service",
            "systemctl restart ecrd@ci.service",
        ] == tools.calls()
        assert (
            "ecrd@cd.service run the former unit until restarted: systemctl restart ecrd@cd.service"
            in result.stdout.splitlines()
        )


class TestUninstallTemplate:
    @pytest.mark.usefixtures("ecrd", "as_root")
    def test_removes_the_instance_and_the_unused_template(self, etc, users, tools):
        """Uninstalling stops ecrd@USER, removes its drop-in and the template nobody else uses."""
        run("service", "install", "--systemd-system", "ci")
        tools.forget()

        result = run("service", "uninstall", "--systemd-system", "ci")

        units = etc / "systemd" / "system"
        assert [
            "ran systemctl disable --now ecrd@ci.service",
            f"removed {units}/ecrd@ci.service.d/ecrd.conf",
            f"removed {units}/ecrd@ci.service.d",
            f"removed {units}/ecrd@.service",
            "ran systemctl daemon-reload",
            "kept the configuration and the state /var/lib/ecrd/ci",
        ] == result.stdout.splitlines()
        config = users["ci"] / ".config" / "ecrd" / "config.yaml"
        assert ([], True) == (files_under(units), config.exists())
        assert [
            "systemctl disable --now ecrd@ci.service",
            "systemctl daemon-reload",
        ] == tools.calls()

    @pytest.mark.usefixtures("users", "tools", "ecrd", "as_root")
    def test_keeps_the_template_another_user_runs(self, etc):
        """The template stays while another instance uses it, and the output says which."""
        run("service", "install", "--systemd-system", "ci")
        run("service", "install", "--systemd-system", "cd")
        (etc / "systemd" / "system" / "multi-user.target.wants").mkdir()
        (etc / "systemd" / "system" / "multi-user.target.wants" / "ecrd@ops.service").symlink_to(
            etc / "systemd" / "system" / "ecrd@.service"
        )

        result = run("service", "uninstall", "--systemd-system", "ci")

        units = etc / "systemd" / "system"
        assert (
            f"kept {units}/ecrd@.service: ecrd@cd.service, ecrd@ops.service still use it"
            in result.stdout.splitlines()
        )
        assert (units / "ecrd@.service").exists()

    @pytest.mark.usefixtures("users", "tools", "ecrd", "as_root")
    def test_keeps_the_administrators_own_overrides(self, etc):
        """An override.conf from `systemctl edit` stays, with its directory."""
        run("service", "install", "--systemd-system", "ci")
        override = etc / "systemd" / "system" / "ecrd@ci.service.d" / "override.conf"
        override.write_text("[Service]\nReadWritePaths=/srv/x\n")

        run("service", "uninstall", "--systemd-system", "ci")

        assert ["ecrd@ci.service.d", "ecrd@ci.service.d/override.conf"] == files_under(
            etc / "systemd" / "system"
        )

    @pytest.mark.usefixtures("tools", "ecrd", "as_root")
    def test_works_for_a_user_already_deleted(self, etc, users):
        """The user need not exist any more to remove their instance."""
        run("service", "install", "--systemd-system", "ci")
        del users["ci"]

        result = run("service", "uninstall", "--systemd-system", "ci")

        assert 0 == result.exit_code, result.output
        assert [] == files_under(etc / "systemd" / "system")

    @pytest.mark.usefixtures("ecrd", "as_root")
    def test_not_installed_says_so(self, etc, tools):
        """Nothing installed: says so, exit 0, runs nothing."""
        result = run("service", "uninstall", "--systemd-system", "ci")

        assert (0, f"not installed: there is no {etc}/systemd/system/ecrd@.service\n", []) == (
            result.exit_code,
            result.stdout,
            tools.calls(),
        )

    @pytest.mark.usefixtures("etc", "users", "tools", "ecrd", "as_user")
    def test_needs_root(self):
        """Removing a system unit as another user than root: exit 1, saying to use sudo."""
        result = run("service", "uninstall", "--systemd-system", "ci")

        assert 1 == result.exit_code
        assert "run it as root (sudo ecrd service uninstall --systemd-system ci)" in result.stderr


class TestLaunchd:
    def paths(self, home: Path) -> tuple[Path, Path, Path]:
        plist = home / "Library" / "LaunchAgents" / "io.ecrd.agent.plist"
        return plist, home / "Library" / "Logs" / "ecrd", home / ".config" / "ecrd" / "config.yaml"

    def test_install_on_the_example_writes_the_agent_without_loading_it(
        self, isolated_env, tools, ecrd
    ):
        """Issue 13: on the example just created, the plist is written, not bootstrapped.

        The last step says what to edit and how to load it.
        """
        result = run("service", "install", "--launchd")

        plist, logs, config = self.paths(isolated_env)
        uid = os.getuid()
        assert 0 == result.exit_code, result.output
        assert [
            f"created {config} from the example",
            f"created {logs}",
            f"wrote {plist} (runs {ecrd} run --config {config})",
            f"not started: {config} is the example, with placeholder registries; edit it (check it with `ecrd check-config -c {config}`), then start ecrd: launchctl bootstrap gui/{uid} {plist} (else it starts at your next login)",
            f"status: launchctl print gui/{uid}/io.ecrd.agent",
            f"logs:   tail -f {logs}/ecrd.log",
        ] == result.stdout.splitlines()
        assert render_plist(ecrd=ecrd, config=config, home=isolated_env) == plist.read_bytes()
        assert 0o700 == mode(logs)
        assert [f"launchctl print gui/{uid}/io.ecrd.agent"] == tools.calls()

    def test_install_writes_the_agent_and_bootstraps_it(self, isolated_env, tools, ecrd):
        """On a configuration of the user's own: plist written, logs directory 0700, bootstrapped."""
        own_config(isolated_env / ".config" / "ecrd" / "config.yaml")

        result = run("service", "install", "--launchd")

        plist, logs, config = self.paths(isolated_env)
        uid = os.getuid()
        assert 0 == result.exit_code, result.output
        assert [
            f"configuration: {config} (exists, left as it is)",
            f"created {logs}",
            f"wrote {plist} (runs {ecrd} run --config {config})",
            f"ran launchctl bootstrap gui/{uid} {plist}",
            f"status: launchctl print gui/{uid}/io.ecrd.agent",
            f"logs:   tail -f {logs}/ecrd.log",
        ] == result.stdout.splitlines()
        assert 0o700 == mode(logs)
        assert [
            f"launchctl print gui/{uid}/io.ecrd.agent",
            f"launchctl bootstrap gui/{uid} {plist}",
        ] == tools.calls()

    @pytest.mark.usefixtures("ecrd")
    def test_unchanged_and_running_changes_nothing(self, isolated_env, tools, monkeypatch):
        """Installing again while the agent runs: already installed, already running."""
        own_config(isolated_env / ".config" / "ecrd" / "config.yaml")
        run("service", "install", "--launchd")
        monkeypatch.setenv("ECRD_TEST_LAUNCHD_LOADED", "1")
        tools.forget()

        result = run("service", "install", "--launchd")

        plist, _, _ = self.paths(isolated_env)
        uid = os.getuid()
        assert [
            f"already installed: {plist} is up to date",
            f"already running: gui/{uid}/io.ecrd.agent",
        ] == result.stdout.splitlines()[1:3]
        assert [f"launchctl print gui/{uid}/io.ecrd.agent"] == tools.calls()

    @pytest.mark.usefixtures("ecrd")
    def test_unchanged_but_not_loaded_is_bootstrapped(self, isolated_env, tools):
        """An agent installed but not loaded (booted out by hand) is loaded again."""
        own_config(isolated_env / ".config" / "ecrd" / "config.yaml")
        run("service", "install", "--launchd")
        tools.forget()

        run("service", "install", "--launchd")

        plist, _, _ = self.paths(isolated_env)
        assert f"launchctl bootstrap gui/{os.getuid()} {plist}" == tools.calls()[-1]

    def test_changed_agent_is_booted_out_then_bootstrapped(
        self, tmp_path, isolated_env, tools, ecrd, monkeypatch
    ):
        """A changed plist replaces the loaded agent: bootout, then bootstrap."""
        run("service", "install", "--launchd")
        monkeypatch.setenv("ECRD_TEST_LAUNCHD_LOADED", "1")
        tools.forget()

        other = own_config(tmp_path / "other.yaml")

        result = run("service", "install", "--launchd", "-c", str(other))

        plist, _, _ = self.paths(isolated_env)
        uid = os.getuid()
        assert f"updated {plist} (runs {ecrd} run --config {tmp_path}/other.yaml)" in result.stdout
        assert [
            f"launchctl print gui/{uid}/io.ecrd.agent",
            f"launchctl bootout gui/{uid}/io.ecrd.agent",
            f"launchctl bootstrap gui/{uid} {plist}",
        ] == tools.calls()

    @pytest.mark.usefixtures("ecrd")
    def test_uninstall_boots_out_and_removes_keeping_configuration_and_logs(
        self, isolated_env, tools, monkeypatch
    ):
        """Uninstalling unloads the agent and removes its plist; configuration and logs stay."""
        run("service", "install", "--launchd")
        monkeypatch.setenv("ECRD_TEST_LAUNCHD_LOADED", "1")
        tools.forget()

        result = run("service", "uninstall", "--launchd")

        plist, logs, config = self.paths(isolated_env)
        uid = os.getuid()
        state = isolated_env / ".local" / "state" / "ecrd"
        assert [
            f"ran launchctl bootout gui/{uid}/io.ecrd.agent",
            f"removed {plist}",
            f"kept the configuration {config}, the state {state} and the logs {logs}",
        ] == result.stdout.splitlines()
        assert (False, True, True) == (plist.exists(), config.exists(), logs.is_dir())

    @pytest.mark.usefixtures("ecrd")
    def test_without_launchctl_the_error_says_macos_only(self, tmp_path, isolated_env, monkeypatch):
        """No launchctl (not macOS): exit 1 saying why; the plist and logs directory are removed."""
        own_config(isolated_env / ".config" / "ecrd" / "config.yaml")
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))

        result = run("service", "install", "--launchd")

        plist, logs, _ = self.paths(isolated_env)
        assert 1 == result.exit_code
        assert "launchctl is not on PATH (this kind of service is for macOS only)" in result.stderr
        assert (False, False) == (plist.exists(), logs.exists())


class TestExampleConfig:
    def test_packaged_example_is_the_annotated_one(self):
        """The example shipped inside the package is config/ecrd.example.yaml, byte for byte."""
        assert (REPO / "config" / "ecrd.example.yaml").read_bytes() == example_config()

    def test_packaged_example_is_a_valid_configuration(self, tmp_path):
        """A configuration created from the example loads without an error."""
        path = tmp_path / "config.yaml"
        path.write_bytes(example_config())

        config = load_config(path)

        assert 3 == len(config.registries)
