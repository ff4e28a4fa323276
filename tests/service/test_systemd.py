"""The systemd units: what they say, and what systemd-analyze thinks of them.

``systemd-analyze verify`` only warns (on stderr, exit status 0) about unknown keys and bad
values, so every check here requires an empty stderr. It also checks that ExecStart's
program exists, so the units are rendered with a fake ``ecrd`` of the test's own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecrd.errors import ServiceError
from ecrd.service.systemd import (
    render_drop_in,
    render_template_unit,
    render_user_unit,
    template_allows,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "systemd"
SHIPPED_ECRD = "/usr/local/bin/ecrd"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is missing: apt-get install --no-install-recommends systemd",
)


@pytest.fixture
def ecrd(tmp_path: Path) -> Path:
    """An executable standing for ecrd, so that verify finds ExecStart's program."""
    path = tmp_path / "venv" / "bin" / "ecrd"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def analyze(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze offline; ``--user`` needs a runtime directory."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(runtime), "LC_ALL": "C.UTF-8"},
    )


def unit_file(tmp_path: Path, name: str, text: str) -> Path:
    directory = tmp_path / "units"
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def shipped_with(ecrd: Path, name: str) -> str:
    """A shipped unit with the test's ecrd in place of /usr/local/bin/ecrd."""
    text = (SHIPPED / name).read_text()
    assert SHIPPED_ECRD in text
    return text.replace(SHIPPED_ECRD, str(ecrd))


def exposure(result: subprocess.CompletedProcess[str]) -> float:
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    return float(match.group(1))


class TestShippedUnits:
    def test_user_unit_is_the_rendered_one_for_usr_local_bin(self):
        """systemd/ecrd.service is exactly what the code renders for /usr/local/bin/ecrd."""
        expected = render_user_unit(ecrd=Path(SHIPPED_ECRD), config=None)

        assert expected == (SHIPPED / "ecrd.service").read_text()

    def test_template_unit_is_the_rendered_one_for_usr_local_bin(self):
        """systemd/ecrd@.service is exactly what the code renders for /usr/local/bin/ecrd."""
        expected = render_template_unit(ecrd=Path(SHIPPED_ECRD))

        assert expected == (SHIPPED / "ecrd@.service").read_text()


class TestUserUnit:
    def test_runs_ecrd_with_the_configuration_given(self, ecrd):
        """ExecStart names ecrd by its absolute path and passes --config when given."""
        text = render_user_unit(ecrd=ecrd, config=Path("/home/u/.config/ecrd/config.yaml"))

        assert [f"ExecStart={ecrd} run --config /home/u/.config/ecrd/config.yaml"] == [
            line for line in text.splitlines() if line.startswith("ExecStart=")
        ]

    def test_without_a_configuration_ecrd_searches_its_default_paths(self, ecrd):
        """Without a configuration, ExecStart is a bare `ecrd run`."""
        text = render_user_unit(ecrd=ecrd, config=None)

        assert [f"ExecStart={ecrd} run"] == [
            line for line in text.splitlines() if line.startswith("ExecStart=")
        ]

    def test_service_settings(self, ecrd):
        """Notify, SIGHUP reload, watchdog, restart with a start limit but not on status 2; no StateDirectory=."""
        lines = set(render_user_unit(ecrd=ecrd, config=None).splitlines())

        expected = {
            "Type=notify",
            "NotifyAccess=main",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "WatchdogSec=2min",
            "Restart=on-failure",
            "RestartPreventExitStatus=2",
            "StartLimitIntervalSec=10min",
            "StartLimitBurst=5",
            "WantedBy=default.target",
        }
        assert expected == expected & lines
        assert [] == [line for line in lines if line.startswith("StateDirectory")]

    @needs_systemd_analyze
    def test_shipped_unit_verifies_without_a_warning(self, tmp_path, ecrd):
        """`systemd-analyze --user verify` accepts the shipped unit: exit 0, empty stderr."""
        path = unit_file(tmp_path, "ecrd.service", shipped_with(ecrd, "ecrd.service"))

        result = analyze("--user", "verify", str(path), tmp_path=tmp_path)

        assert (0, "") == (result.returncode, result.stderr)

    @needs_systemd_analyze
    def test_rendered_unit_verifies_without_a_warning(self, tmp_path, ecrd):
        """The unit rendered with a configuration verifies: exit 0, empty stderr."""
        text = render_user_unit(ecrd=ecrd, config=tmp_path / "config.yaml")
        path = unit_file(tmp_path, "ecrd.service", text)

        result = analyze("--user", "verify", str(path), tmp_path=tmp_path)

        assert (0, "") == (result.returncode, result.stderr)

    @needs_systemd_analyze
    def test_verify_does_report_a_bad_unit(self, tmp_path, ecrd):
        """The check above can fail: an unknown key shows on stderr (with exit status 0)."""
        text = render_user_unit(ecrd=ecrd, config=None) + "Bogus=1\n"
        path = unit_file(tmp_path, "ecrd.service", text)

        result = analyze("--user", "verify", str(path), tmp_path=tmp_path)

        assert "Unknown key 'Bogus'" in result.stderr

    @needs_systemd_analyze
    def test_paths_with_spaces_and_specifier_characters_are_quoted(self, tmp_path):
        """Paths with a space, '%' and '$' reach systemd intact: verify finds the program."""
        program = tmp_path / "a dir %i $HOME" / "ecrd"
        program.parent.mkdir()
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
        text = render_user_unit(ecrd=program, config=tmp_path / "my config %h $PWD.yaml")
        path = unit_file(tmp_path, "ecrd.service", text)

        result = analyze("--user", "verify", str(path), tmp_path=tmp_path)

        assert (0, "") == (result.returncode, result.stderr)
        assert (
            f'ExecStart="{tmp_path}/a dir %%i $HOME/ecrd" run --config "{tmp_path}/my config %%h $$PWD.yaml"'
            in text.splitlines()
        )

    def test_a_path_with_a_line_break_is_refused(self, tmp_path):
        """A unit file cannot hold a line break in a value: ServiceError, not a broken unit."""
        with pytest.raises(ServiceError, match="line break"):
            render_user_unit(ecrd=tmp_path / "bad\ndir" / "ecrd", config=None)

    @needs_systemd_analyze
    def test_seccomp_sandbox_keeps_its_exposure_level(self, tmp_path, ecrd):
        """The user unit's seccomp sandbox keeps its exposure at 7.0 or less (about 9 without it)."""
        path = unit_file(tmp_path, "ecrd.service", shipped_with(ecrd, "ecrd.service"))

        result = analyze(
            "--user", "security", "--offline=true", "--threshold=70", str(path), tmp_path=tmp_path
        )

        assert 0 == result.returncode, result.stdout + result.stderr
        assert exposure(result) <= 7.0


class TestTemplateUnit:
    def test_instance_runs_as_its_user_with_its_state_directory(self, ecrd):
        """An instance runs as its user, with state in /var/lib/ecrd/USER, after the network."""
        lines = set(render_template_unit(ecrd=ecrd).splitlines())

        expected = {
            "User=%i",
            f"ExecStart={ecrd} run",
            "StateDirectory=ecrd/%i",
            "StateDirectoryMode=0700",
            "Type=notify",
            "NotifyAccess=main",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "StartLimitBurst=5",
            "Wants=network-online.target",
            "After=network-online.target remote-fs.target nss-user-lookup.target",
            "WantedBy=multi-user.target",
        }
        assert expected == expected & lines

    def test_home_stays_writable_where_build_users_homes_are(self, ecrd):
        """/home/USER and /var/lib/USER stay writable; no %h, which is root's home in a system unit."""
        text = render_template_unit(ecrd=ecrd)

        assert (
            "ReadWritePaths=-/home/%i -/var/lib/%i -/var/lib/prometheus/node-exporter"
            in text.splitlines()
        )
        assert [] == [line for line in text.splitlines() if "%h" in line and line[0] != "#"]

    def test_both_units_leave_room_in_open_files(self, ecrd):
        """LimitNOFILE= well above the default 1,024: /metrics can never take what rounds need."""
        texts = [render_template_unit(ecrd=ecrd), render_user_unit(ecrd=ecrd, config=None)]

        limits = [
            [line for line in t.splitlines() if line.startswith("LimitNOFILE=")] for t in texts
        ]

        assert [["LimitNOFILE=8192"], ["LimitNOFILE=8192"]] == limits

    def test_template_allows_only_those_homes(self):
        """template_allows() tells whether a home needs a drop-in of its own."""
        actual = [
            template_allows(user="jenkins", home=Path(home))
            for home in ("/home/jenkins", "/var/lib/jenkins", "/srv/jenkins", "/home/other")
        ]

        assert [True, True, False, False] == actual

    @needs_systemd_analyze
    def test_shipped_template_verifies_without_a_warning(self, tmp_path, ecrd):
        """`systemd-analyze verify` accepts the shipped template: exit 0, empty stderr."""
        path = unit_file(tmp_path, "ecrd@.service", shipped_with(ecrd, "ecrd@.service"))

        result = analyze("verify", str(path), tmp_path=tmp_path)

        assert (0, "") == (result.returncode, result.stderr)

    @needs_systemd_analyze
    def test_shipped_template_is_rated_ok(self, tmp_path, ecrd):
        """`systemd-analyze security` rates the shipped template OK: exposure 3.0 at most."""
        path = unit_file(tmp_path, "ecrd@.service", shipped_with(ecrd, "ecrd@.service"))

        result = analyze(
            "security", "--offline=true", "--threshold=30", str(path), tmp_path=tmp_path
        )

        assert 0 == result.returncode, result.stdout + result.stderr
        assert exposure(result) <= 3.0
        assert " OK " in result.stdout.splitlines()[-1] + " "

    @needs_systemd_analyze
    def test_instance_with_its_drop_in_verifies_and_is_rated_ok(self, tmp_path, ecrd):
        """An instance with its drop-in (configuration, home elsewhere) verifies and is rated OK."""
        path = unit_file(tmp_path, "ecrd@.service", render_template_unit(ecrd=ecrd))
        drop_in = path.parent / "ecrd@ci.service.d" / "ecrd.conf"
        drop_in.parent.mkdir()
        drop_in.write_text(
            render_drop_in(user="ci", config=Path("/etc/ecrd/ci.yaml"), home=Path("/srv/c i"))
        )
        instance = str(path.parent / "ecrd@ci.service")

        verify = analyze("verify", instance, tmp_path=tmp_path)
        security = analyze(
            "security", "--offline=true", "--threshold=30", instance, tmp_path=tmp_path
        )

        assert (0, "") == (verify.returncode, verify.stderr)
        assert 0 == security.returncode, security.stdout + security.stderr
        assert exposure(security) <= 3.0


class TestDropIn:
    def test_names_the_configuration_and_a_home_elsewhere(self):
        """The drop-in sets ECRD_CONFIG, and makes a home the template misses writable."""
        text = render_drop_in(user="ci", config=Path("/etc/ecrd/ci.yaml"), home=Path("/srv/ci"))

        assert [
            "[Service]",
            "Environment=ECRD_CONFIG=/etc/ecrd/ci.yaml",
            "ReadWritePaths=-/srv/ci",
        ] == [line for line in text.splitlines() if not line.startswith("#")]

    def test_without_a_home_only_the_configuration(self):
        """When the template covers the home, the drop-in only names the configuration."""
        text = render_drop_in(user="ci", config=Path("/etc/ecrd/my ci.yaml"), home=None)

        assert ["[Service]", 'Environment="ECRD_CONFIG=/etc/ecrd/my ci.yaml"'] == [
            line for line in text.splitlines() if not line.startswith("#")
        ]
