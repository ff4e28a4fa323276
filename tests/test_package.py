"""The packages a fleet installs: the wheel, the sdist and the Debian package, built for real.

``scripts/package`` builds them twice (the second time as a later version); the wheel goes
into a fresh virtual environment and refreshes from ``ecrd emulator``; the .deb is installed
with dpkg, checked file by file, refreshes by /usr/bin/ecrd, is upgraded to the later build
(a user's configuration and state kept) and purged, leaving the machine as it was. The
maintainer scripts run inside a mount namespace whose /run says systemd runs, with a
``systemctl`` that records its calls: what they would start, stop or restart is counted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecrd import __version__
from ecrd.cli import cli
from ecrd.manpages import PAGES, render_pages
from ecrd.service.configuration import example_config

REPOSITORY = Path(__file__).resolve().parent.parent
HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
LATER = f"{__version__}.post1"
ARCH = (
    subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if shutil.which("dpkg")
    else ""
)
# What `apt install ./ecrd_*.deb` may pull in: Debian's python3, and what every system has.
ALLOWED_DEPENDS = {"python3", "libc6", "init-system-helpers"}
# A systemctl that records its arguments, one call per line.
FAKE_SYSTEMCTL = '#!/bin/sh\necho "$*" >> "{log}"\n'


def _installed(package: str) -> bool:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return "install ok installed" in done.stdout


class TestManPages:
    def test_pages_are_generated_from_help_readme_and_example(self):
        """The shipped man pages are what --help, README.md and the example say now."""
        pages = render_pages(
            command=cli,
            readme=(REPOSITORY / "README.md").read_text(),
            example=example_config().decode(),
        )

        assert {
            name: (REPOSITORY / "ecrd" / "data" / "man" / name).read_text() for name in PAGES
        } == pages

    def test_ecrd_1_holds_every_command_and_option(self):
        """ecrd(1) has a section per command, and each of its options, as --help lists them."""
        page = (REPOSITORY / "ecrd" / "data" / "man" / "ecrd.1").read_text()

        for name in ("refresh", "run", "status", "check-config", "service install", "emulator"):
            assert f'.SS "ecrd {name} ' in page.replace("\\-", "-")
        assert "\\fB\\-\\-stable\\-passwords\\fR" in page
        assert ".TH ECRD 1" in page

    def test_ecrd_yaml_5_holds_the_example_whole(self):
        """ecrd.yaml(5) quotes the example configuration, line for line."""
        page = (REPOSITORY / "ecrd" / "data" / "man" / "ecrd.yaml.5").read_text()
        example = page.split(".SH EXAMPLE\n.nf\n", 1)[1].split("\n.fi\n", 1)[0]

        assert example_config().decode().rstrip("\n") == example.replace("\\-", "-").replace(
            "\\e", "\\"
        ).replace("\\&", "")

    def test_man_renders_without_warnings(self):
        """man(1) renders both pages without a warning."""
        if shutil.which("man") is None:
            pytest.skip("needs man (man-db)")
        for name in PAGES:
            done = subprocess.run(
                ["man", "--warnings", "-l", str(REPOSITORY / "ecrd" / "data" / "man" / name)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80"},
            )

            assert (0, "") == (done.returncode, done.stderr)


@pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("dpkg") is None
    or shutil.which("apt-get") is None
    or shutil.which("unshare") is None
    or not Path("/usr/bin/python3").exists(),
    reason="builds and installs a .deb: needs root on Debian, with unshare and /usr/bin/python3",
)
def test_packages_build_install_refresh_upgrade_and_purge(tmp_path, isolated_env):
    """The wheel and the .deb each refresh a login; the .deb upgrades and purges cleanly.

    A fresh install starts and stops nothing; an upgrade keeps the user's state and
    restarts the running ecrd@USER instances; purge removes the package's files only.
    """
    if _installed("ecrd") or Path("/opt/ecrd").exists() or Path("/usr/bin/ecrd").exists():
        pytest.skip("ecrd is installed on this machine already: not touching it")
    first, later = tmp_path / "first", tmp_path / "later"
    _package("--out", str(first))
    # The same sources again, as a later version: lintian has checked them once.
    _package(
        "--out", str(later), "--version-suffix", LATER.removeprefix(__version__), "--no-lintian"
    )

    # The sdist and the wheel.
    assert (first / f"ecrd-{__version__}.tar.gz").is_file()
    wheel = first / f"ecrd-{__version__}-py3-none-any.whl"
    venv = tmp_path / "venv"
    _run(["/usr/bin/python3", "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    assert (venv / "share" / "man" / "man1" / "ecrd.1").is_file()
    assert (venv / "share" / "man" / "man5" / "ecrd.yaml.5").is_file()
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "ecrd" / "data" / "ecrd-rules.yml").is_file()
    printed = _run([str(venv / "bin" / "ecrd"), "service", "print", "--systemd-user"]).stdout
    assert f"ExecStart={venv / 'bin' / 'ecrd'} run" in printed

    emulator = subprocess.Popen(
        [str(venv / "bin" / "ecrd"), "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+", emulator.stdout.readline())
        assert found is not None
        url = found.group(0)
        _lifecycle(tmp_path, isolated_env, venv=venv, url=url, first=first, later=later)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        if emulator.stdout is not None:
            emulator.stdout.close()
        if _installed("ecrd") or Path("/opt/ecrd").exists():
            subprocess.run(["dpkg", "--purge", "ecrd"], capture_output=True, check=False)


def _lifecycle(tmp_path: Path, home: Path, *, venv: Path, url: str, first: Path, later: Path):
    # The wheel's ecrd refreshes a login.
    wheel_config = _config(tmp_path / "wheel.yaml", url=url, docker=tmp_path / "wheel.json")
    _run([str(venv / "bin" / "ecrd"), "refresh", "-c", str(wheel_config)])
    assert [HOST] == list(json.loads((tmp_path / "wheel.json").read_text())["auths"])

    # The .deb: what it depends on, and a fresh install that starts and stops nothing.
    deb = first / f"ecrd_{__version__}-1_{ARCH}.deb"
    depends = _run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    assert set() == {d.split()[0] for d in depends.split(", ")} - ALLOWED_DEPENDS
    assert [] == _dpkg(tmp_path, "-i", str(deb))
    for path in (
        "/opt/ecrd/bin/ecrd",
        "/usr/share/doc/ecrd/examples/ecrd.example.yaml",
        "/usr/share/doc/ecrd/examples/ecrd-rules.yml",
        "/usr/share/man/man1/ecrd.1.gz",
        "/usr/share/man/man5/ecrd.yaml.5.gz",
    ):
        assert Path(path).is_file(), path
    assert Path("/usr/bin/ecrd").resolve() == Path("/opt/ecrd/bin/ecrd")
    assert Path("/usr/bin/docker-credential-ecrd").resolve() == Path(
        "/opt/ecrd/bin/docker-credential-ecrd"
    )
    assert example_config() == Path("/usr/share/doc/ecrd/examples/ecrd.example.yaml").read_bytes()
    for unit in ("/lib/systemd/system/ecrd@.service", "/usr/lib/systemd/user/ecrd.service"):
        assert "ExecStart=/usr/bin/ecrd run\n" in Path(unit).read_text(), unit
    verify = _run(["systemd-analyze", "verify", "/lib/systemd/system/ecrd@.service"])
    assert "" == verify.stderr
    assert f"ecrd, version {__version__}\n" == _run(["/usr/bin/ecrd", "--version"]).stdout

    # /usr/bin/ecrd refreshes; the user's configuration and state.
    config = _config(home / ".config" / "ecrd" / "config.yaml", url=url, docker=home / "d.json")
    _run(["/usr/bin/ecrd", "refresh"])
    assert [HOST] == list(json.loads((home / "d.json").read_text())["auths"])
    state = home / ".local" / "state" / "ecrd"
    before = sorted(p.relative_to(state) for p in state.rglob("*"))
    assert before

    # The upgrade restarts running instances, keeps the state, runs the new version.
    assert ["daemon-reload", "try-restart ecrd@*.service"] == _dpkg(
        tmp_path, "-i", str(later / f"ecrd_{LATER}-1_{ARCH}.deb")
    )
    assert f"ecrd, version {LATER}\n" == _run(["/usr/bin/ecrd", "--version"]).stdout
    assert before == sorted(p.relative_to(state) for p in state.rglob("*"))
    assert 0 == _run(["/usr/bin/ecrd", "status", "-c", str(config)]).returncode

    # Remove stops the instances and keeps users' files; purge leaves nothing of the package.
    assert ["stop ecrd@*.service"] == _dpkg(tmp_path, "--remove", "ecrd")
    assert [] == _dpkg(tmp_path, "--purge", "ecrd")
    assert not _installed("ecrd")
    for path in ("/opt/ecrd", "/usr/bin/ecrd", "/usr/bin/docker-credential-ecrd"):
        assert not Path(path).exists(), path
    for path in ("/lib/systemd/system/ecrd@.service", "/usr/share/doc/ecrd"):
        assert not Path(path).exists(), path
    assert config.is_file()
    assert before == sorted(p.relative_to(state) for p in state.rglob("*"))


def _package(*args: str) -> None:
    done = subprocess.run(
        [str(REPOSITORY / "scripts" / "package"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == done.returncode, done.stdout[-3000:] + done.stderr[-3000:]


def _dpkg(tmp_path: Path, *args: str) -> list[str]:
    """Run dpkg where /run says systemd runs; the systemctl calls of its maintainer scripts."""
    fake = tmp_path / "fake-bin"
    fake.mkdir(exist_ok=True)
    log = tmp_path / "systemctl.log"
    log.write_text("")
    systemctl = fake / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL.format(log=log))
    systemctl.chmod(0o755)
    script = 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec dpkg "$@"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "dpkg", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    return log.read_text().splitlines()


def _config(path: Path, *, url: str, docker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"aws:\n  region: us-west-2\n  endpoint_url: {url}\n"
        f"outputs:\n  - {{type: docker, path: {docker}}}\n"
        f"registries:\n  - {HOST}\n"
    )
    return path


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert 0 == done.returncode, f"{argv}: {done.stdout}{done.stderr}"
    return done
