"""The launchd agent of ``ecrd service`` for macOS: its property list, and its steps.

The agent is loaded into the user's GUI domain (``launchctl bootstrap gui/UID``).

The property list is rendered from code, not from a template file: launchd expands neither
``~`` nor variables, so every path in it is absolute.

The log is capped: launchd never rotates ``StandardOutPath``, and newsyslog reads only
``/etc/newsyslog.d``, which a user's agent cannot install into. So the agent starts ecrd
through ``/bin/sh``, which moves a log larger than ``LOG_CAP`` bytes to ``ecrd.log.1``
(replacing the former one) and then runs ecrd with its output appended to a fresh
``ecrd.log``. The check runs whenever the agent starts (login, a restart after a failure);
at ecrd's log volume (a few lines per refresh) that bounds the logs to about twice the cap.
The log is in the console format, the text a person tails.

launchd starts the agent again whenever it exits with a failure. An invalid configuration
at start (exit 2 for systemd, whose ``RestartPreventExitStatus=2`` stops there) would make
it start ecrd every ``ThrottleInterval`` for as long as the file stays wrong; so the agent
runs ``ecrd run --wait-for-valid-config``: the daemon logs ``config_rejected``, keeps the
error in its state for ``ecrd status``, and waits for a valid save, as it waits for a file
that does not exist yet.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
from typing import TYPE_CHECKING

from ecrd.paths import state_root
from ecrd.service.configuration import Found, example_config, inspect
from ecrd.service.steps import (
    Change,
    Step,
    config_step,
    directory_step,
    edit_then_start,
    remove_step,
    run_step,
    write_step,
)

if TYPE_CHECKING:
    from pathlib import Path

LABEL = "io.ecrd.agent"
LOG_FILE = "ecrd.log"
LOG_CAP = 10 * 1024 * 1024
# $1: the log; the rest: ecrd's command line. `find -size +Nc` reads the same in BSD and GNU.
_START = (
    'log=$1; shift; if [ -n "$(find "$log" -size +{cap}c 2>/dev/null)" ]; '
    'then mv -f "$log" "$log.1"; fi; exec "$@" >>"$log" 2>&1'
)

# Seconds launchd waits before starting ecrd again after it stopped.
THROTTLE_INTERVAL = 30
# launchd's own PATH is /usr/bin:/bin:/usr/sbin:/sbin; docker's credential helpers live in
# Docker Desktop's and Homebrew's directories.
_PATH = (
    "{home}/.docker/bin",
    "/opt/homebrew/bin",
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/sbin",
    "/sbin",
)


def plist_name() -> str:
    """The agent's file name in ``~/Library/LaunchAgents``."""
    return f"{LABEL}.plist"


def logs_directory(*, home: Path) -> Path:
    """Where the agent's standard output and error go: ``~/Library/Logs/ecrd``."""
    return home / "Library" / "Logs" / "ecrd"


def render_plist(*, ecrd: Path, config: Path, home: Path) -> bytes:
    """The agent: runs ``ecrd run --config CONFIG`` at login, again whenever it fails.

    It waits for a valid configuration instead of failing, and logs in the console format.

    Through ``/bin/sh``, which caps the log (see the module's docstring).
    """
    log = str(logs_directory(home=home) / LOG_FILE)
    start = _START.format(cap=LOG_CAP)
    agent = {
        "Label": LABEL,
        "ProgramArguments": [
            "/bin/sh",
            "-c",
            start,
            "ecrd",
            log,
            str(ecrd),
            "run",
            "--config",
            str(config),
            "--wait-for-valid-config",
            "--log-format",
            "console",
        ],
        "RunAtLoad": True,
        # Start again after a failure (exit status other than 0, or a signal), not after a stop.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": THROTTLE_INTERVAL,
        "ProcessType": "Background",
        "EnvironmentVariables": {"PATH": ":".join(p.format(home=home) for p in _PATH)},
    }
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=False)


def plan_launchd_install(*, ecrd: Path, config: Path, home: Path) -> list[Step]:
    """Write the agent and (re)load it; create the configuration and the logs directory.

    On the example configuration the agent is written, not loaded: the last step says what
    to edit and how to load it (launchd loads it anyway at the next login).
    """
    plist = home / "Library" / "LaunchAgents" / plist_name()
    data = render_plist(ecrd=ecrd, config=config, home=home)
    write, change = write_step(plist, data, detail=f"runs {ecrd} run --config {config}")
    found = Found(inspect(config, example=example_config()))
    steps = [config_step(config, found=found, owner=None, shared=False)]
    logs = logs_directory(home=home)
    if not logs.is_dir():
        steps.append(directory_step(logs, mode=0o700))
    steps.append(write)
    domain = f"gui/{os.getuid()}"
    service = f"{domain}/{LABEL}"
    loaded = _loaded(service)
    bootstrap = ["launchctl", "bootstrap", domain, str(plist)]
    if found is not Found.OWN:
        start = f"{' '.join(bootstrap)} (else it starts at your next login)"
        steps.append(edit_then_start(config, start))
    elif change is Change.SAME and loaded:
        steps.append(Step.note(f"already running: {service}"))
    else:
        if loaded:  # launchd keeps the property list it loaded: unload it first
            steps.append(run_step(["launchctl", "bootout", service]))
        steps.append(run_step(bootstrap))
    steps.append(Step.note(f"status: launchctl print {service}"))
    steps.append(Step.note(f"logs:   tail -f {logs / LOG_FILE}"))
    return steps


def plan_launchd_uninstall(*, config: Path, home: Path) -> list[Step]:
    """Unload the agent and remove its property list; configuration, state and logs stay."""
    plist = home / "Library" / "LaunchAgents" / plist_name()
    service = f"gui/{os.getuid()}/{LABEL}"
    loaded = _loaded(service)
    if not loaded and not plist.exists():
        return [Step.note(f"not installed: there is no {plist}")]
    steps: list[Step] = []
    if loaded:
        steps.append(run_step(["launchctl", "bootout", service]))
    if plist.exists():
        steps.append(remove_step(plist))
    logs = logs_directory(home=home)
    steps.append(
        Step.note(f"kept the configuration {config}, the state {state_root()} and the logs {logs}")
    )
    return steps


def _loaded(service: str) -> bool:
    """Whether launchd knows the agent (``launchctl print`` only reads)."""
    try:
        done = subprocess.run(
            ["launchctl", "print", service],  # noqa: S607 - found on PATH, as typed by a user
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return False  # not macOS: installing says so when it runs launchctl
    return done.returncode == 0
