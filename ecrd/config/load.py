"""YAML -> Config. Every mistake is reported at once, each as ``FILE:LINE:COLUMN: message``.

Reading goes in three steps:

1. PyYAML composes the text into nodes, which carry their line and column. The nodes become
   plain data, and every key and value is remembered by its path (``("registries", 1,
   "region")``) so that any later error can point at the text.
2. pydantic models check each section's shape and each value on its own (unknown keys,
   types, durations, regions, ARNs, URLs, host names).
3. The checks that need more than one value (registry ids as YAML read them, defaults from
   ``aws:``, duplicate hosts and paths, netrc's lack of ports) run on the sections that
   passed step 2, so that one mistake does not hide another.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from ecrd.config.durations import describe, parse_duration
from ecrd.config.hosts import (
    check_host,
    ecr_host_forms,
    is_valid_region,
    parse_host,
    partition,
    standard_host,
    strip_port,
)
from ecrd.config.model import (
    PUBLIC_HOST,
    PUBLIC_REGION,
    Config,
    OutputSpec,
    OutputType,
    RefreshPolicy,
    Registry,
)
from ecrd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from pydantic_core import ErrorDetails

SYSTEM_CONFIG_PATH = Path("/etc/ecrd/config.yaml")

# A path to a value in the document: mapping keys and list indexes.
_Path = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)

_TOP_KEYS = ("refresh", "aws", "outputs", "registries")
_OUTPUT_TYPES: tuple[OutputType, ...] = ("docker", "netrc")
_REGISTRY_ID = re.compile(r"[0-9]{12}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", re.ASCII)
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\$)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_DEPTH = 64
_MAX_NODES = 100_000
_EXAMPLE_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
_HOST_FORMS = (
    "ID.dkr.ecr.REGION.amazonaws.com (.amazonaws.com.cn in China, or another partition's"
    " suffix), its FIPS form ID.dkr.ecr-fips.REGION.amazonaws.com, its dual-stack forms"
    " ID.dkr-ecr.REGION.on.aws and ID.dkr-ecr-fips.REGION.on.aws, or public.ecr.aws for"
    " ECR Public"
)


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
    root = _compose(text, label=label)
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _tag("null")):
        msg = (
            f"{label}: the configuration is empty; it needs a 'registries:' list of ECR"
            f" hosts, such as '- {_EXAMPLE_HOST}'"
        )
        raise ConfigError(msg)
    problems = _Problems(label)
    tree = _Tree(problems)
    data = tree.build(root)
    if not isinstance(data, dict):
        if () not in tree.broken:
            problems.add(
                root.start_mark,
                "expected a mapping with 'registries' and optionally 'refresh', 'aws' and"
                f" 'outputs' at the top level, got {describe(data)}",
            )
        raise problems.error()
    config = _Checker(tree=tree, problems=problems, env=env, path=path).check(data, root=root)
    if problems:
        raise problems.error()
    return config


# --- Reading ---------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = (
            f"{path}: no configuration file there; create it with a 'registries:' list of"
            f" ECR hosts (such as '- {_EXAMPLE_HOST}'), or name another file with -c PATH"
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


def _compose(text: str, *, label: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        context_mark = exc.context_mark
        if (
            exc.context
            and context_mark
            and exc.problem
            and (mark is None or context_mark.index != mark.index)
        ):
            context_at = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
            problem = f"{problem} ({exc.context} at {context_at})"
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        msg = f"{where}: {problem}"
        raise ConfigError(msg) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        msg = f"{label}:{line}:{column}: {exc.reason} ({character!r})"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{label}: {exc}"
        raise ConfigError(msg) from None
    except RecursionError:
        msg = f"{label}: the document is nested too deeply to be a configuration"
        raise ConfigError(msg) from None


def _tag(name: str) -> str:
    return f"tag:yaml.org,2002:{name}"


@dataclass
class _Problems:
    """Errors found so far, each at a place in the file."""

    label: str
    items: list[tuple[int, int, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, mark: yaml.Mark | None, message: str) -> None:
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        self.items.append((line, column, message))

    def error(self) -> ConfigError:
        ordered = sorted(self.items, key=lambda item: (item[0], item[1]))
        errors = tuple(
            f"{self.label}:{line}:{column}: {message}" if line else f"{self.label}: {message}"
            for line, column, message in ordered
        )
        return ConfigError("\n".join(errors), errors=errors)


class _Tree:
    """Plain data from YAML nodes, and the node of every key and value by path."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems
        self.values: dict[_Path, yaml.Node] = {}
        self.broken: set[_Path] = set()  # values YAML could not read, already reported
        self.keys: dict[_Path, yaml.Node] = {}
        self._count = 0
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node) -> object:
        """The plain data of ``node``, the document's root."""
        return self._build(node, (), ())

    def mark(self, path: _Path, *, key: bool = False) -> yaml.Mark | None:
        """Where the value (or the key) at ``path`` is written; its parent's when unknown."""
        nodes = self.keys if key else self.values
        if path in nodes:
            return nodes[path].start_mark
        return self.mark(path[:-1]) if path else None

    def where(self, path: _Path) -> str:
        """``line L, column C`` of the value at ``path``, to name a second place."""
        mark = self.mark(path)
        return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "elsewhere"

    def _build(  # noqa: PLR0911 -- one return per kind of node
        self, node: yaml.Node, path: _Path, ancestors: tuple[int, ...]
    ) -> object:
        self.values[path] = node
        self._count += 1
        if self._count == _MAX_NODES:
            self.problems.add(node.start_mark, "the document is too large to be a configuration")
            self.broken.add(())
        if self._count >= _MAX_NODES:
            return None
        if id(node) in ancestors:
            self.problems.add(node.start_mark, "an alias refers to a node that contains it")
            self.broken.add(path)
            return None
        if len(path) > _MAX_DEPTH:
            self.problems.add(node.start_mark, "nested too deeply to be a configuration")
            self.broken.add(path)
            return None
        inside = (*ancestors, id(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, "seq", path)
            return [self._build(item, (*path, i), inside) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, "map", path)
            return self._mapping(node, path, inside)
        self.problems.add(node.start_mark, f"unexpected YAML node {type(node).__name__}")
        return None

    def _scalar(self, node: yaml.ScalarNode, path: _Path) -> object:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problems.add(node.start_mark, f"cannot read {node.value!r}: {exc.problem}")
        except (ValueError, TypeError, OverflowError) as exc:
            self.problems.add(node.start_mark, f"cannot read {node.value!r}: {exc}")
        self.broken.add(path)
        return None

    def _check_tag(self, node: yaml.Node, kind: str, path: _Path) -> None:
        if node.tag != _tag(kind):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            expected = "a list" if kind == "seq" else "a mapping"
            msg = f"unsupported YAML tag {tag}; expected a plain {expected.split()[1]}"
            self.problems.add(node.start_mark, msg)
            self.broken.add(path)

    def _mapping(
        self, node: yaml.MappingNode, path: _Path, ancestors: tuple[int, ...]
    ) -> dict[str, object]:
        out: dict[str, object] = {}
        for key_node, value_node, merged in self._pairs(node, ancestors):
            if not isinstance(key_node, yaml.ScalarNode):
                found = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                self.problems.add(key_node.start_mark, f"expected a key name, got {found}")
                continue
            key = str(key_node.value)
            key_path: _Path = (*path, key)
            if key in out:
                if not merged:
                    first = self.keys[key_path].start_mark
                    msg = (
                        f"duplicate key {describe(key)} {_in(path)} (first at line"
                        f" {first.line + 1}, column {first.column + 1})"
                    )
                    self.problems.add(key_node.start_mark, msg)
                continue
            self.keys[key_path] = key_node
            out[key] = self._build(value_node, key_path, ancestors)
        return out

    def _pairs(
        self, node: yaml.MappingNode, ancestors: tuple[int, ...]
    ) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """Key and value nodes, explicit keys first, then those of ``<<`` merge keys."""
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _tag("merge"):
                merges.append(value_node)
            else:
                yield key_node, value_node, False
        for value_node in merges:
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    msg = "a merge key (<<) takes a mapping or a list of mappings"
                    self.problems.add(source.start_mark, msg)
                elif id(source) in ancestors or source is node:
                    self.problems.add(source.start_mark, "a merge key (<<) refers to itself")
                else:
                    for key_node, merged_value, _ in self._pairs(source, (*ancestors, id(node))):
                        yield key_node, merged_value, True


# --- Schemas (step 2): the shape of each section, each value on its own ------------------------


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _min_interval(value: object) -> timedelta:
    duration = parse_duration(value)
    if duration < timedelta(seconds=1):
        msg = f"expected at least 1s, got {describe(value)}"
        raise ValueError(msg)
    return duration


def _region(value: object) -> str:
    if not isinstance(value, str) or not is_valid_region(value):
        msg = f"expected an AWS region such as us-east-1, got {describe(value)}"
        raise ValueError(msg)
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"expected a name, got {describe(value)}"
        raise ValueError(msg)
    return value


def _role_arn(value: object) -> str:
    if not isinstance(value, str) or not _ROLE_ARN.fullmatch(value):
        msg = (
            "expected an IAM role ARN such as arn:aws:iam::123456789012:role/NAME,"
            f" got {describe(value)}"
        )
        raise ValueError(msg)
    return value


def _endpoint_url(value: object) -> str:
    if isinstance(value, str):
        scheme, _, rest = value.partition("://")
        host = rest.split("/", 1)[0]
        if scheme.lower() in ("http", "https") and host and not any(c.isspace() for c in rest):
            return value
    msg = f"expected an http:// or https:// URL, got {describe(value)}"
    raise ValueError(msg)


def _host(value: object) -> str:
    problem = check_host(value) if isinstance(value, str) else None
    if not isinstance(value, str) or problem:
        msg = (
            "expected a host name with an optional port, such as registry.example.internal"
            f" or registry.example.internal:5000, got {describe(value)}"
        )
        raise ValueError(msg + (f" ({problem})" if problem else ""))
    return value.lower()


def _registry_id_input(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        msg = f"expected a registry id of 12 digits, such as '123456789012', got {describe(value)}"
        raise ValueError(msg)  # noqa: TRY004 -- pydantic reports ValueError, not TypeError
    return value


def _output_type(value: object) -> OutputType:
    for known in _OUTPUT_TYPES:
        if value == known:
            return known
    hint = _did_you_mean(value, _OUTPUT_TYPES) if isinstance(value, str) else ""
    msg = f"expected docker or netrc, got {describe(value)}{hint}"
    raise ValueError(msg)


def _path_text(value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"expected a file path, got {describe(value)}"
        raise ValueError(msg)
    return value


_Duration = Annotated[timedelta, PlainValidator(_duration)]
_Region = Annotated[str, PlainValidator(_region)]
_Name = Annotated[str, PlainValidator(_name)]
_RoleArn = Annotated[str, PlainValidator(_role_arn)]
_EndpointUrl = Annotated[str, PlainValidator(_endpoint_url)]
_Host = Annotated[str, PlainValidator(_host)]
_DEFAULT_POLICY = RefreshPolicy()


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _RefreshSchema(_Schema):
    before_expiry: _Duration = _DEFAULT_POLICY.before_expiry
    jitter: _Duration = _DEFAULT_POLICY.jitter
    retry_initial: _Duration = _DEFAULT_POLICY.retry_initial
    retry_max: _Duration = _DEFAULT_POLICY.retry_max
    min_interval: Annotated[timedelta, PlainValidator(_min_interval)] = _DEFAULT_POLICY.min_interval


class _AwsSchema(_Schema):
    region: _Region | None = None
    profile: _Name | None = None
    role_arn: _RoleArn | None = None
    endpoint_url: _EndpointUrl | None = None


class _OutputSchema(_Schema):
    type: Annotated[OutputType, PlainValidator(_output_type)]
    path: Annotated[str, PlainValidator(_path_text)]


class _RegistrySchema(_Schema):
    registry_id: Annotated[str | int, PlainValidator(_registry_id_input)] | None = None
    region: _Region | None = None
    profile: _Name | None = None
    role_arn: _RoleArn | None = None
    endpoint_url: _EndpointUrl | None = None
    hosts: list[_Host] = Field(default_factory=list)
    public: bool = False


_EXPECTED_BY_TYPE = {
    "string_type": "a string",
    "bool_type": "true or false",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
}


# --- Checks (step 3) and assembly ---------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A registry read from the file, with where each of its hosts comes from."""

    registry: Registry
    host_paths: tuple[tuple[str, _Path], ...]


@dataclass
class _Checker:
    tree: _Tree
    problems: _Problems
    env: Mapping[str, str]
    path: Path

    def check(self, data: dict[str, object], *, root: yaml.Node) -> Config:
        """The configuration; meaningful only when no problem was found.

        Each section is checked even when another has errors, and the checks across
        sections run on the parts that could be read, so that one mistake hides no other.
        """
        for key in data:
            if key not in _TOP_KEYS:
                self._unknown_key((key,), _TOP_KEYS)
        if "registries" not in data:
            msg = (
                "missing key 'registries' at the top level: the list of ECR hosts to keep"
                f" logged in, such as '- {_EXAMPLE_HOST}' ('registries: []' for none)"
            )
            self.problems.add(root.start_mark, msg)
        refresh = self._refresh(data.get("refresh"))
        aws = self._section(_AwsSchema, data.get("aws"), ("aws",))
        outputs = self._outputs(data.get("outputs"))
        entries = self._registries(data.get("registries", []), aws)
        self._check_hosts(entries, outputs)
        return Config(
            path=Path(os.path.abspath(self.path)),  # noqa: PTH100 -- keep symlinks as named
            refresh=refresh or RefreshPolicy(),
            outputs=tuple(spec for spec, _ in outputs),
            registries=tuple(entry.registry for entry in entries),
        )

    # Sections.

    def _refresh(self, value: object) -> RefreshPolicy | None:
        schema = self._section(_RefreshSchema, value, ("refresh",))
        if schema is None:
            return None
        if schema.retry_initial > schema.retry_max:
            key = "retry_initial" if "retry_initial" in schema.model_fields_set else "retry_max"
            msg = (
                f"refresh.retry_initial ({_format(schema.retry_initial)}) must not be longer"
                f" than refresh.retry_max ({_format(schema.retry_max)})"
            )
            self._fail(("refresh", key), msg)
            return None
        return RefreshPolicy(
            before_expiry=schema.before_expiry,
            jitter=schema.jitter,
            retry_initial=schema.retry_initial,
            retry_max=schema.retry_max,
            min_interval=schema.min_interval,
        )

    def _outputs(self, value: object) -> list[tuple[OutputSpec, _Path]]:
        if value is None:
            return [(spec, ("outputs",)) for spec in default_outputs(env=self.env)]
        if not isinstance(value, list):
            msg = f"outputs: expected a list of outputs (such as '- type: docker'), got {describe(value)}"
            self._fail(("outputs",), msg)
            return []
        outputs: list[tuple[OutputSpec, _Path]] = []
        seen: dict[Path, _Path] = {}
        for i, item in enumerate(value):
            schema = self._section(_OutputSchema, item, ("outputs", i), required=True)
            path_at: _Path = ("outputs", i, "path")
            expanded = self._expand_path(schema.path, path_at) if schema else None
            if schema is None or expanded is None:
                continue
            if expanded in seen:
                other = seen[expanded]
                msg = (
                    f"output path '{expanded}' is already the path of {_dotted(other[:2])}"
                    f" ({self.tree.where(other)}); write each file once"
                )
                self._fail(path_at, msg)
                continue
            seen[expanded] = path_at
            outputs.append((OutputSpec(type=schema.type, path=expanded), path_at))
        return outputs

    def _registries(self, value: object, aws: _AwsSchema | None) -> list[_Entry]:
        if not isinstance(value, list):
            msg = (
                "registries: expected a list of ECR hosts or registry mappings"
                f" ('registries: []' for none), got {describe(value)}"
            )
            self._fail(("registries",), msg)
            return []
        entries: list[_Entry] = []
        for i, item in enumerate(value):
            at: _Path = ("registries", i)
            entry: _Entry | None = None
            if isinstance(item, str):
                entry = self._shorthand(item, at, aws)
            elif isinstance(item, dict):
                entry = self._registry(item, at, aws)
            else:
                msg = (
                    f"{_dotted(at)}: expected an ECR host (such as {_EXAMPLE_HOST}) or a mapping"
                    f" with registry_id and region, or 'public: true', got {describe(item)}"
                )
                self._fail(at, msg)
            if entry is not None:
                entries.append(entry)
        return entries

    def _shorthand(self, text: str, at: _Path, aws: _AwsSchema | None) -> _Entry | None:
        host = text.strip().lower()
        scheme, sep, rest = host.partition("://")
        if sep and scheme in ("http", "https") and parse_host(rest.rstrip("/")):
            msg = f"write the registry host without '{scheme}://': '{rest.rstrip('/')}'"
            self._fail(at, msg)
            return None
        parsed = parse_host(host)
        if parsed is None:
            msg = (
                f"{describe(text)} is not an ECR registry host; expected {_HOST_FORMS}."
                " To give a registry's credentials to another name, list that name under"
                " 'hosts' of a registry mapping"
            )
            self._fail(at, msg)
            return None
        if parsed.registry_id is None:
            registry = _registry_of(registry_id=None, region=PUBLIC_REGION, hosts=(), aws=aws)
            return _Entry(registry, ((PUBLIC_HOST, at),))
        if not is_valid_region(parsed.region):
            msg = (
                f"{describe(text)}: expected an AWS region such as us-east-1, got '{parsed.region}'"
            )
            self._fail(at, msg)
            return None
        if host not in ecr_host_forms(parsed.registry_id, parsed.region):
            msg = (
                f"{describe(text)} does not match its region: {parsed.region} is in the"
                f" {partition(parsed.region).name} partition, whose registry host is"
                f" {standard_host(parsed.registry_id, parsed.region)}"
                " (or its FIPS or dual-stack form)"
            )
            self._fail(at, msg)
            return None
        registry = _registry_of(
            registry_id=parsed.registry_id, region=parsed.region, hosts=(host,), aws=aws
        )
        return _Entry(registry, ((host, at),))

    def _registry(
        self, item: dict[str, object], at: _Path, aws: _AwsSchema | None
    ) -> _Entry | None:
        schema = self._section(_RegistrySchema, item, at)
        if schema is None:
            given = item.get("registry_id")
            if isinstance(given, (str, int)) and not isinstance(given, bool):
                self._registry_id(given, at)  # its own mistakes, even in a bad mapping
            return None
        extra = tuple((host, (*at, "hosts", j)) for j, host in enumerate(schema.hosts))
        if schema.public:
            ok = True
            for key, why in (
                ("registry_id", "ECR Public has no registry id"),
                ("region", f"ECR Public tokens always come from {PUBLIC_REGION}"),
            ):
                if getattr(schema, key) is not None:
                    msg = f"'{key}' cannot go with 'public: true' ({why}); remove it"
                    self._fail((*at, key), msg, key=True)
                    ok = False
            if not ok:
                return None
            hosts = tuple(h for h, _ in extra)
            registry = _registry_of(
                registry_id=None, region=PUBLIC_REGION, hosts=hosts, aws=aws, schema=schema
            )
            return _Entry(registry, ((PUBLIC_HOST, (*at, "public")), *extra))
        registry_id = self._registry_id(schema.registry_id, at)
        region = schema.region or (aws.region if aws else None)
        if region is None and aws is not None:
            msg = (
                f"missing key 'region' {_in(at)}, and 'aws.region' is not set: add"
                " 'region: REGION' to the registry or to the 'aws' section"
            )
            self._fail(at, msg)
        if registry_id is None or region is None:
            return None
        host = standard_host(registry_id, region)
        hosts = (host, *(h for h, _ in extra))
        registry = _registry_of(
            registry_id=registry_id, region=region, hosts=hosts, aws=aws, schema=schema
        )
        return _Entry(registry, ((host, (*at, "registry_id")), *extra))

    def _registry_id(self, value: str | int | None, at: _Path) -> str | None:
        id_at: _Path = (*at, "registry_id")
        if value is None:
            msg = (
                f"missing key 'registry_id' {_in(at)}: the registry's 12-digit AWS account"
                " id, such as '123456789012' (or 'public: true' for ECR Public)"
            )
            self._fail(at, msg)
            return None
        if isinstance(value, str):
            if _REGISTRY_ID.fullmatch(value):
                return value
            msg = f"{_dotted(id_at)}: expected a registry id of 12 digits, got {describe(value)}"
            self._fail(id_at, msg)
            return None
        node = self.tree.values.get(id_at)
        written = str(node.value) if isinstance(node, yaml.ScalarNode) else str(value)
        if _REGISTRY_ID.fullmatch(written) and not written.startswith("0"):
            return written
        digits = written.replace("_", "")
        if _REGISTRY_ID.fullmatch(digits) and digits.startswith("0"):
            msg = (
                f"registry id {written} must be quoted: YAML reads a number with a leading 0"
                f" differently; write '{digits}'"
            )
        elif _REGISTRY_ID.fullmatch(digits):
            msg = f"registry id {written} must be quoted as 12 digits: write '{digits}'"
        else:
            msg = f"{_dotted(id_at)}: expected a registry id of 12 digits, got {written}"
        self._fail(id_at, msg)
        return None

    # Checks across registries and outputs.

    def _check_hosts(self, entries: list[_Entry], outputs: list[tuple[OutputSpec, _Path]]) -> None:
        owner: dict[str, tuple[int, _Path]] = {}
        for index, entry in enumerate(entries):
            for host, at in entry.host_paths:
                first = owner.setdefault(host, (index, at))
                if first[0] != index:
                    msg = (
                        f"host '{host}' is already given to {_dotted(first[1][:2])}"
                        f" ({self.tree.where(first[1])}); a host holds the credentials of"
                        " one registry"
                    )
                    self._fail(at, msg)
        netrc = next((at for spec, at in outputs if spec.type == "netrc"), None)
        if netrc is None:
            return
        bare: dict[str, tuple[str, int, _Path]] = {}
        for host, (index, at) in owner.items():
            name = strip_port(host)
            other = bare.setdefault(name, (host, index, at))
            if other[1] != index:
                msg = (
                    f"hosts '{other[0]}' ({self.tree.where(other[2])}) and '{host}' differ only"
                    f" by port, but netrc has no ports: the netrc output {_dotted(netrc[:2])}"
                    f" ({self.tree.where(netrc)}) cannot hold both registries' credentials"
                )
                self._fail(at, msg)

    # Helpers.

    def _section(
        self, schema: type[_M], value: object, at: _Path, *, required: bool = False
    ) -> _M | None:
        """``value`` checked against ``schema``, or ``None`` after reporting its errors."""
        if value is None and not required:
            value = {}
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors():
                self._report(error, value, at, schema)
            return None

    def _report(
        self, error: ErrorDetails, value: object, base: _Path, schema: type[BaseModel]
    ) -> None:
        path = base
        current = value
        for part in error["loc"]:
            found, child = _child(current, part)
            if not found:  # a missing key: point at its mapping
                break
            current = child
            path = (*path, part)
        kind = error["type"]
        if kind == "extra_forbidden":
            self._unknown_key(path, tuple(schema.model_fields))
            return
        if kind == "missing":
            msg = f"missing key '{error['loc'][-1]}' {_in(path)}"
        elif kind == "value_error":
            msg = f"{_dotted(path)}: {error.get('ctx', {}).get('error', error['msg'])}"
        elif kind in _EXPECTED_BY_TYPE:
            msg = f"{_dotted(path)}: expected {_EXPECTED_BY_TYPE[kind]}, got {describe(current)}"
        else:
            msg = f"{_dotted(path)}: {error['msg']}, got {describe(current)}"
        self._fail(path, msg)

    def _fail(self, at: _Path, message: str, *, key: bool = False) -> None:
        """Report ``message`` at ``at``, unless YAML could not read a value there."""
        own = 0 if key else 1  # a key is readable even when its value is not
        if not any(at[:n] in self.tree.broken for n in range(len(at) + own)):
            self.problems.add(self.tree.mark(at, key=key), message)

    def _unknown_key(self, path: _Path, known: tuple[str, ...]) -> None:
        key = str(path[-1])
        hint = _did_you_mean(key, known) or f" (expected one of: {', '.join(known)})"
        msg = f"unknown key {describe(key)} {_in(path[:-1])}{hint}"
        self._fail(path, msg, key=True)

    def _expand_path(self, text: str, at: _Path) -> Path | None:
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
            msg = f"{_dotted(at)}: {'; '.join(missing)} (in {describe(text)})"
            self._fail(at, msg)
            return None
        # os.path: normalise "a/../b" without resolving symlinks, which Path cannot do.
        base = os.path.dirname(os.path.abspath(self.path))  # noqa: PTH100, PTH120
        return Path(os.path.normpath(os.path.join(base, expanded)))  # noqa: PTH118 -- idem


def _registry_of(
    *,
    registry_id: str | None,
    region: str,
    hosts: tuple[str, ...],
    aws: _AwsSchema | None,
    schema: _RegistrySchema | None = None,
) -> Registry:
    """A registry, ECR Public when it has no id, with its identity.

    profile, role_arn and endpoint_url come from the aws section unless the registry gives
    them; one it gives as null overrides the aws section's (boto3's defaults then).
    """
    given = schema.model_fields_set if schema else set()

    def pick(key: str) -> str | None:
        value = getattr(schema, key) if key in given else getattr(aws, key, None)
        return value if isinstance(value, str) else None

    public = registry_id is None
    return Registry(
        registry_id=registry_id,
        region=region,
        hosts=tuple(dict.fromkeys((PUBLIC_HOST, *hosts) if public else hosts)),
        profile=pick("profile"),
        role_arn=pick("role_arn"),
        endpoint_url=pick("endpoint_url"),
        public=public,
    )


def _child(value: object, part: str | int) -> tuple[bool, object]:
    if isinstance(value, dict) and part in value:
        return True, value[part]
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return True, value[part]
    return False, None


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")  # noqa: PTH111 -- Path.home() raises when unknown


def _expand_home(text: str, *, env: Mapping[str, str]) -> str:
    if text == "~" or text.startswith("~/"):
        return _home(env) + text[1:]
    return os.path.expanduser(text)  # noqa: PTH111 -- ~user/...


def _did_you_mean(value: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _dotted(path: _Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _in(path: _Path) -> str:
    return f"in '{_dotted(path)}'" if path else "at the top level"


def _format(value: timedelta) -> str:
    if value.microseconds:
        return f"{value.total_seconds():g}s"
    seconds = int(value.total_seconds())
    parts = [(seconds // 3600, "h"), (seconds // 60 % 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
