"""The systemd units of ``ecrd service``: a user unit, a template system unit, its drop-in.

Pure: each function takes paths and returns the text of a unit file. The files shipped in
``systemd/`` are these texts for ``/usr/local/bin/ecrd`` (a test keeps them equal).

Choices (each checked against systemd 252's manual and ``systemd-analyze``):

- ``%h`` in a system unit is root's home, whatever ``User=`` says, and systemd has no
  specifier for the home of ``User=``. The template therefore allows writes under
  ``/home/USER`` and ``/var/lib/USER`` (where build users' homes are, e.g. Debian's
  jenkins), and ``ecrd service install`` adds the real home in the instance's drop-in
  when it lies elsewhere. The whole home must be writable, not just ``~/.docker``: ecrd
  replaces ``~/.netrc`` by writing a new file next to it, in the home itself.
- The user unit has no file-system sandbox (``ProtectSystem=``, ``PrivateTmp=`` ...): in a
  user manager those need user namespaces, and depending on the systemd version and the
  host they are skipped or make the service fail to start. Its sandbox is what works
  unprivileged: seccomp filters and ``NoNewPrivileges=``.
- The user unit sets no ``StateDirectory=``: for user units systemd puts it under
  ``$XDG_CONFIG_HOME`` (next to the configuration, systemd 252) and ``ecrd status`` would
  not find it. ecrd's own default, ``~/.local/state/ecrd``, is where ``status`` looks.
- ``RemoveIPC=`` is not set: it would remove every IPC object of the user when ecrd
  stops, including those of the CI agent running as the same user.
- Exit status 2 (invalid configuration, bad usage) does not restart: a restart cannot help.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ecrd.errors import ServiceError

if TYPE_CHECKING:
    from pathlib import Path

USER_UNIT = "ecrd.service"
TEMPLATE_UNIT = "ecrd@.service"
DROP_IN = "ecrd.conf"

_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")

_RUNTIME = """\
[Service]
Type=notify
NotifyAccess=main
{user}ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# Ready once the first round of refreshes is over (AWS calls time out within a minute).
TimeoutStartSec=3min
TimeoutStopSec=10s
# ecrd pings every WatchdogSec/2.
WatchdogSec=2min
Restart=on-failure
RestartSec=30s
# 2: invalid configuration or usage, which a restart cannot mend; fix it, then restart.
RestartPreventExitStatus=2
UMask=0077
# Room for every group's connections and files: /metrics holds at most 16 connections.
LimitNOFILE=8192
"""

# Seccomp and prctl settings: they need no privileges, so they work in both managers.
_FILTERS = """\
NoNewPrivileges=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
# Not ~@resources or ~@privileged: credential helpers written in Go call setrlimit() at
# start, and ecrd keeps an output's group with fchown().
SystemCallFilter=@system-service
"""

_USER_UNIT = """\
# ecrd as a systemd user service: keeps your Amazon ECR logins fresh while you are logged in
# (and after you log out, with `loginctl enable-linger`).
#   systemctl --user enable --now ecrd       logs: journalctl --user -u ecrd -f
# `ecrd service install` writes this file with the path of its own ecrd and configuration.
# Configuration: --config below when given, else $ECRD_CONFIG, ~/.config/ecrd/config.yaml,
# /etc/ecrd/config.yaml. ecrd applies a saved change by itself; `systemctl --user reload ecrd`
# does it at once. State: ~/.local/state/ecrd, where `ecrd status` looks.

[Unit]
Description=ecrd: keep Amazon ECR logins fresh
StartLimitIntervalSec=10min
StartLimitBurst=5

{runtime}
# Sandbox: only what works unprivileged. ProtectSystem=, PrivateTmp= and the like need user
# namespaces in a user manager; where there are none they are skipped or fail the unit.
{filters}
[Install]
WantedBy=default.target
"""

_TEMPLATE_UNIT = """\
# ecrd for build hosts: keeps Amazon ECR logins fresh for the user named by the instance.
#   systemctl enable --now ecrd@jenkins      runs as jenkins, writes jenkins' files
#   journalctl -u ecrd@jenkins -f            its logs
# `ecrd service install --systemd-system USER` writes this file with the path of its own
# ecrd, and ecrd@USER.service.d/ecrd.conf naming USER's configuration file (and USER's home
# when it is not /home/USER or /var/lib/USER).
# Without that drop-in the configuration is ~USER/.config/ecrd/config.yaml, else
# /etc/ecrd/config.yaml; another file or home, or outputs outside the home, with
#   systemctl edit ecrd@USER  ->  [Service]
#                                 Environment=ECRD_CONFIG=/etc/ecrd/USER.yaml
#                                 ReadWritePaths=/srv/ci
# Environment of ecrd@USER (what `ecrd refresh` and `ecrd status` need to act alike):
# USER, LOGNAME, HOME from USER's passwd entry, STATE_DIRECTORY=/var/lib/ecrd/USER (from
# StateDirectory= below; `ecrd status` run by USER looks there too), and ECRD_CONFIG from
# the drop-in; `ecrd service print --systemd-system USER` prints both files.
# PrivateTmp=yes: /tmp and /var/tmp are the service's own. An output configured under /tmp
# is written there, where no other process sees it: keep outputs in the home.

[Unit]
Description=ecrd: keep Amazon ECR logins fresh for %i
Wants=network-online.target
After=network-online.target remote-fs.target nss-user-lookup.target
StartLimitIntervalSec=10min
StartLimitBurst=5

{runtime}StateDirectory=ecrd/%i
StateDirectoryMode=0700

# Sandbox. The user's home stays writable: outputs are replaced by writing a new file next
# to them (~/.netrc lies in the home itself). systemd has no specifier for the home of
# User= (%h is root's in a system unit), hence these two usual places. And Debian's
# prometheus-node-exporter textfile directory, for metrics.textfile; %i may write it once
# allowed: setfacl -m u:%i:rwx /var/lib/prometheus/node-exporter (package acl).
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=-/home/%i -/var/lib/%i -/var/lib/prometheus/node-exporter
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
PrivateMounts=yes
ProtectClock=yes
ProtectControlGroups=yes
ProtectHostname=yes
ProtectKernelLogs=yes
ProtectKernelModules=yes
ProtectKernelTunables=yes
ProtectProc=invisible
ProcSubset=pid
KeyringMode=private
DevicePolicy=closed
CapabilityBoundingSet=
AmbientCapabilities=
{filters}# Not RemoveIPC=: it would remove the IPC objects of everything running as this user.
# Not IPAddressDeny=: ECR and STS endpoints have no fixed addresses.

[Install]
WantedBy=multi-user.target
"""

_DROP_IN = """\
# Written by `ecrd service install --systemd-system {user}`; removed by `ecrd service
# uninstall`. Change settings with `systemctl edit ecrd@{user}` (override.conf wins).
# ecrd@{user} runs as {user} (USER, LOGNAME, HOME from its passwd entry) with:
#   STATE_DIRECTORY=/var/lib/ecrd/{user}
#   {environment_comment}
[Service]
Environment={environment}
{read_write}"""


def render_user_unit(*, ecrd: Path, config: Path | None) -> str:
    """The user unit running ``ecrd run``, with ``--config CONFIG`` when one is given.

    Raises:
        ServiceError: a path holds a newline, which a unit file cannot express.
    """
    argv = [str(ecrd), "run"] + (["--config", str(config)] if config is not None else [])
    runtime = _RUNTIME.format(user="", exec_start=_command_line(argv))
    return _USER_UNIT.format(runtime=runtime, filters=_FILTERS)


def render_template_unit(*, ecrd: Path) -> str:
    """The template system unit: instance ``ecrd@USER`` runs ``ecrd run`` as ``USER``.

    Raises:
        ServiceError: the path holds a newline, which a unit file cannot express.
    """
    runtime = _RUNTIME.format(user="User=%i\n", exec_start=_command_line([str(ecrd), "run"]))
    return _TEMPLATE_UNIT.format(runtime=runtime, filters=_FILTERS)


def render_drop_in(*, user: str, config: Path, home: Path | None) -> str:
    """The drop-in of instance ``ecrd@USER``: its configuration file, and maybe its home.

    ``home`` is given when the template's ``ReadWritePaths=`` do not cover it.

    Raises:
        ServiceError: a path holds a newline, which a unit file cannot express.
    """
    environment = _word(f"ECRD_CONFIG={config}")
    # "-": a home that does not exist is skipped; ecrd then says what it cannot write.
    read_write = f"ReadWritePaths={_word(f'-{home}')}\n" if home is not None else ""
    return _DROP_IN.format(
        user=user,
        environment=environment,
        environment_comment=f"ECRD_CONFIG={config}",
        read_write=read_write,
    )


def template_allows(*, user: str, home: Path) -> bool:
    """Whether the template's ``ReadWritePaths=`` already cover ``home``."""
    return str(home) in (f"/home/{user}", f"/var/lib/{user}")


def _command_line(argv: list[str]) -> str:
    # systemd expands $VARIABLE in the arguments of an Exec line (a literal "$" is written
    # "$$"), not in the program's path.
    program, *arguments = argv
    return " ".join([_word(program), *(_word(arg.replace("$", "$$")) for arg in arguments)])


def _word(text: str) -> str:
    """One word of a unit file's value: specifiers escaped, quoted when it needs to be."""
    if "\n" in text or "\r" in text:
        msg = f"{text!r} holds a line break, which a systemd unit file cannot express; choose a path without one"
        raise ServiceError(msg)
    escaped = text.replace("%", "%%")
    if _PLAIN_WORD.fullmatch(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
