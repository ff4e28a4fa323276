"""YAML -> Config. Every mistake is reported at once, each as ``FILE:LINE:COLUMN: message``.

Reading goes in three steps:

1. PyYAML composes the text into nodes, which carry their line and column. The nodes become
   plain data, and every key and value is remembered by its path (``("registries", 1,
   "region")``) so that any later error can point at the text (``_located``).
2. Each section's keys are checked, and each value on its own (unknown keys, types,
   durations, regions, ARNs, URLs, host names) (``_schema``).
3. The checks that need more than one value run on the sections that passed step 2, so
   that one mistake does not hide another: registry ids as YAML read them and defaults
   from ``aws:``, regions botocore knows (``_registries``), then duplicate hosts and paths
   and netrc's lack of ports (here).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ecrd.config._located import Problems, Tree, compose, dotted
from ecrd.config._registries import EXAMPLE_HOST, read_registries
from ecrd.config._schema import AWS, METRICS, OUTPUT, REFRESH, read_section, report_unknown_key
from ecrd.config.describe import describe
from ecrd.config.durations import format_duration
from ecrd.config.model import Config, MetricsSpec, OutputSpec, RefreshPolicy
from ecrd.errors import ConfigError
from ecrd.files import MAX_SIZE
from ecrd.files.regular import RefusedFileError, read_regular
from ecrd.hostport import host_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ecrd.config._located import DocPath
    from ecrd.config._registries import Entry
    from ecrd.config.model import OutputType

SYSTEM_CONFIG_PATH = Path("/etc/ecrd/config.yaml")

_TOP_KEYS = ("refresh", "metrics", "aws", "outputs", "registries")
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\$)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_config_path(*, env: Mapping[str, str] | None = None) -> Path:
    """The configuration file used when ``-c`` is not given.

    ``$ECRD_CONFIG`` when set; else ``$XDG_CONFIG_HOME/ecrd/config.yaml`` (by default
    ``~/.config/ecrd/config.yaml``) when it exists; else ``/etc/ecrd/config.yaml`` when
    it exists; else the user's path, so that "not found" names the file to create.
    """
    env = os.environ if env is None else env
    if env.get("ECRD_CONFIG"):
        return Path(_expand_home(env["ECRD_CONFIG"], env=env))
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path(_home(env), ".config")
    user_path = base / "ecrd" / "config.yaml"
    if not user_path.exists() and SYSTEM_CONFIG_PATH.exists():
        return SYSTEM_CONFIG_PATH
    return user_path


def default_outputs(*, env: Mapping[str, str] | None = None) -> tuple[OutputSpec, ...]:
    """The outputs when the configuration names none: docker's own ``config.json``.

    That is ``$DOCKER_CONFIG/config.json`` when ``DOCKER_CONFIG`` is set, as docker reads
    it, else ``~/.docker/config.json``.
    """
    env = os.environ if env is None else env
    directory = env.get("DOCKER_CONFIG") or os.path.join(_home(env), ".docker")  # noqa: PTH118 -- strings until the end
    path = Path(os.path.abspath(os.path.join(directory, "config.json")))  # noqa: PTH100, PTH118 -- see _expand_path
    return (OutputSpec(type="docker", path=path),)


def load_config(
    path: Path, *, env: Mapping[str, str] | None = None, text: str | None = None
) -> Config:
    """Read and validate the configuration file at ``path``.

    ``text``, when given, is read instead of the file (relative paths in it are still
    relative to ``path``'s directory). ``env`` (default ``os.environ``) expands ``~`` and
    ``${VAR}`` in paths and gives the default outputs.

    Raises:
        ConfigError: the file is missing, unreadable, empty or invalid. ``errors`` holds
            every mistake as ``FILE:LINE:COLUMN: message``, in the order of the file.
    """
    label = str(path)
    if text is None:
        text = _read(path)
    env = os.environ if env is None else env
    root = compose(text, label=label)
    if root is None:
        msg = (
            f"{label}: the configuration is empty; it needs a 'registries:' list of ECR"
            f" hosts, such as '- {EXAMPLE_HOST}'"
        )
        raise ConfigError(msg)
    problems = Problems(label)
    tree = Tree(problems)
    data = tree.build(root)
    if not isinstance(data, dict):
        msg = (
            "expected a mapping with 'registries' and optionally 'refresh', 'aws' and"
            f" 'outputs' at the top level, got {describe(data)}"
        )
        tree.report((), msg)
        raise problems.error()
    config = _Checker(tree=tree, env=env, path=path).check(data)
    if problems:
        raise problems.error()
    return config


# --- Reading ---------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        raw = read_regular(path, limit=MAX_SIZE)
    except RefusedFileError as exc:
        raise ConfigError(_refused(path, exc)) from None
    except FileNotFoundError:
        msg = (
            f"{path}: no configuration file there; create it with a 'registries:' list of"
            f" ECR hosts (such as '- {EXAMPLE_HOST}'), or name another file with -c PATH"
        )
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read the configuration: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        msg = f"{path}:{line}:{column}: not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise ConfigError(msg) from None


def _refused(path: Path, exc: RefusedFileError) -> str:
    """Why a configuration path that is no regular file, or is huge, was not read."""
    if exc.kind is not None:
        return (
            f"{path}: cannot read the configuration: it is {exc.kind}, not a regular file;"
            " ecrd did not open it: name the YAML file itself with -c PATH (or ECRD_CONFIG)"
        )
    return (
        f"{path}: cannot read the configuration: it is larger than {MAX_SIZE // (1 << 20)} MiB"
        f" ({exc.size} bytes), far more than a configuration holds; ecrd did not read it:"
        " check that the path names the YAML file"
    )


# --- Checks (step 3) and assembly ---------------------------------------------------------------


@dataclass
class _Checker:
    tree: Tree
    env: Mapping[str, str]
    path: Path

    def check(self, data: dict[str, object]) -> Config:
        """The configuration; meaningful only when no problem was found.

        Each section is checked even when another has errors, and the checks across
        sections run on the parts that could be read, so that one mistake hides no other.
        """
        for key in data:
            if key not in _TOP_KEYS:
                report_unknown_key((key,), known=_TOP_KEYS, tree=self.tree)
        if "registries" not in data:
            msg = (
                "missing key 'registries' at the top level: the list of ECR hosts to keep"
                f" logged in, such as '- {EXAMPLE_HOST}' ('registries: []' for none)"
            )
            self.tree.problems.add(self.tree.mark(()), msg)
        refresh = self._refresh(data.get("refresh"))
        metrics = self._metrics(data.get("metrics"))
        aws = read_section(AWS, data.get("aws"), at=("aws",), tree=self.tree)
        outputs = self._outputs(data.get("outputs"))
        entries = read_registries(data.get("registries", []), aws=aws, tree=self.tree)
        self._check_hosts(entries, outputs)
        return Config(
            path=Path(os.path.abspath(self.path)),  # noqa: PTH100 -- keep symlinks as named
            refresh=refresh or RefreshPolicy(),
            metrics=metrics or MetricsSpec(),
            outputs=tuple(spec for spec, _ in outputs),
            registries=tuple(entry.registry for entry in entries),
        )

    # Sections.

    def _refresh(self, value: object) -> RefreshPolicy | None:
        given = read_section(REFRESH, value, at=("refresh",), tree=self.tree)
        if given is None:
            return None
        policy = dataclasses.replace(RefreshPolicy(), **given)
        if policy.retry_initial > policy.retry_max:
            key = "retry_initial" if "retry_initial" in given else "retry_max"
            msg = (
                f"refresh.retry_initial ({format_duration(policy.retry_initial)}) must not be"
                f" longer than refresh.retry_max ({format_duration(policy.retry_max)})"
            )
            self.tree.report(("refresh", key), msg)
            return None
        return policy

    def _metrics(self, value: object) -> MetricsSpec | None:
        given = read_section(METRICS, value, at=("metrics",), tree=self.tree)
        if given is None:
            return None
        textfile = given.get("textfile")
        path = self._expand_path(str(textfile), ("metrics", "textfile")) if textfile else None
        if textfile and path is None:
            return None
        return MetricsSpec(
            textfile=path, listen=cast("tuple[str, int] | None", given.get("listen"))
        )

    def _outputs(self, value: object) -> list[tuple[OutputSpec, DocPath]]:
        if value is None:
            return [(spec, ("outputs",)) for spec in default_outputs(env=self.env)]
        if not isinstance(value, list):
            msg = f"outputs: expected a list of outputs (such as '- type: docker'), got {describe(value)}"
            self.tree.report(("outputs",), msg)
            return []
        outputs: list[tuple[OutputSpec, DocPath]] = []
        seen: dict[Path, DocPath] = {}
        for i, item in enumerate(value):
            given = read_section(OUTPUT, item, at=("outputs", i), tree=self.tree, required=True)
            path_at: DocPath = ("outputs", i, "path")
            expanded = self._expand_path(str(given["path"]), path_at) if given else None
            if given is None or expanded is None:
                continue
            if expanded in seen:
                other = seen[expanded]
                msg = (
                    f"output path '{expanded}' is already the path of {dotted(other[:2])}"
                    f" ({self.tree.where(other)}); write each file once"
                )
                self.tree.report(path_at, msg)
                continue
            seen[expanded] = path_at
            spec = OutputSpec(type=cast("OutputType", given["type"]), path=expanded)
            outputs.append((spec, path_at))
        return outputs

    # Checks across registries and outputs.

    def _check_hosts(self, entries: list[Entry], outputs: list[tuple[OutputSpec, DocPath]]) -> None:
        owner: dict[str, tuple[int, DocPath]] = {}
        for index, entry in enumerate(entries):
            for host, at in entry.host_paths:
                first = owner.setdefault(host, (index, at))
                if first[0] != index:
                    msg = (
                        f"host '{host}' is already given to {dotted(first[1][:2])}"
                        f" ({self.tree.where(first[1])}); a host holds the credentials of"
                        " one registry"
                    )
                    self.tree.report(at, msg)
        netrc = next((at for spec, at in outputs if spec.type == "netrc"), None)
        if netrc is None:
            return
        bare: dict[str, tuple[str, int, DocPath]] = {}
        for host, (index, at) in owner.items():
            name = host_name(host)
            other = bare.setdefault(name, (host, index, at))
            if other[1] != index:
                msg = (
                    f"hosts '{other[0]}' ({self.tree.where(other[2])}) and '{host}' differ only"
                    f" by port, but netrc has no ports: the netrc output {dotted(netrc[:2])}"
                    f" ({self.tree.where(netrc)}) cannot hold both registries' credentials"
                )
                self.tree.report(at, msg)

    # Helpers.

    def _expand_path(self, text: str, at: DocPath) -> Path | None:
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            name = match["braced"] if match["braced"] is not None else match["name"]
            if name is None:
                return "$"
            if not _NAME.fullmatch(name):
                missing.append(f"'${{{name}}}' is not a variable name")
                return ""
            if name not in self.env:
                missing.append(f"environment variable '{name}' is not set")
                return ""
            return self.env[name]

        expanded = _VARIABLE.sub(substitute, _expand_home(text, env=self.env))
        if missing:
            msg = f"{dotted(at)}: {'; '.join(missing)} (in {describe(text)})"
            self.tree.report(at, msg)
            return None
        # os.path: normalise "a/../b" without resolving symlinks, which Path cannot do.
        base = os.path.dirname(os.path.abspath(self.path))  # noqa: PTH100, PTH120
        return Path(os.path.normpath(os.path.join(base, expanded)))  # noqa: PTH118 -- idem


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")  # noqa: PTH111 -- Path.home() raises when unknown


def _expand_home(text: str, *, env: Mapping[str, str]) -> str:
    if text == "~" or text.startswith("~/"):
        return _home(env) + text[1:]
    return os.path.expanduser(text)  # noqa: PTH111 -- ~user/...
