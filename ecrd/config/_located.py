"""YAML text -> plain data, with the line and column of every key and value.

PyYAML composes the text into nodes, which carry their marks. ``Tree`` turns the nodes into
plain data and remembers each node by its path (``("registries", 1, "region")``), so that
any later error can point at the text. ``Problems`` collects those errors and orders them
as ``FILE:LINE:COLUMN: message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from ecrd.config.describe import describe
from ecrd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

# A path to a value in the document: mapping keys and list indexes.
DocPath = tuple[str | int, ...]

_MAX_DEPTH = 64
_MAX_NODES = 100_000
# libyaml's parser, where PyYAML was built with it (the wheels are): about 20 times faster
# than the pure-Python one, which spent half a second on 1,000 registries. Same nodes and
# marks; its error messages say less (no offending character), so a document it rejects is
# parsed again by the pure-Python parser for the message.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def compose(text: str, *, label: str) -> yaml.Node | None:
    """The root node of ``text``, or ``None`` when the document is empty or a lone null.

    Raises:
        ConfigError: the text is not YAML, as ``LABEL:LINE:COLUMN: problem``.
    """
    try:
        root = _compose_fast(text)
    except _RejectedError:
        root = _compose_explained(text, label=label)
    if isinstance(root, yaml.ScalarNode) and root.tag == _tag("null"):
        return None
    return root


class _RejectedError(Exception):
    """libyaml is missing, or rejected the text."""


def _compose_fast(text: str) -> yaml.Node | None:
    """The root node with libyaml.

    Raises:
        _RejectedError: libyaml is missing, or rejected the text.
    """
    if _FAST_LOADER is None:
        raise _RejectedError
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except (yaml.YAMLError, RecursionError):
        raise _RejectedError from None


def _compose_explained(text: str, *, label: str) -> yaml.Node | None:
    """The root node with the pure-Python parser, whose errors say where and what.

    Raises:
        ConfigError: the text is not YAML.
    """
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


def dotted(path: DocPath) -> str:
    """``path`` as it reads in a message: ``registries[1].region``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def within(path: DocPath) -> str:
    """Where a key of the mapping at ``path`` is: ``in 'refresh'`` or ``at the top level``."""
    return f"in '{dotted(path)}'" if path else "at the top level"


@dataclass
class Problems:
    """Errors found so far, each at a place in the file."""

    label: str
    items: list[tuple[int, int, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, mark: yaml.Mark | None, message: str) -> None:
        """Remember ``message`` at ``mark`` (at the file itself when ``None``)."""
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        self.items.append((line, column, message))

    def error(self) -> ConfigError:
        """Every problem, in the order of the file."""
        # dict.fromkeys: one mistake met twice (aws.region, for two registries) is said once.
        ordered = sorted(dict.fromkeys(self.items), key=lambda item: (item[0], item[1]))
        errors = tuple(
            f"{self.label}:{line}:{column}: {message}" if line else f"{self.label}: {message}"
            for line, column, message in ordered
        )
        return ConfigError("\n".join(errors), errors=errors)


class Tree:
    """Plain data from YAML nodes, and the node of every key and value by path."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.values: dict[DocPath, yaml.Node] = {}
        self.broken: set[DocPath] = set()  # values YAML could not read, already reported
        self.keys: dict[DocPath, yaml.Node] = {}
        self._count = 0
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node) -> object:
        """The plain data of ``node``, the document's root."""
        return self._build(node, (), ())

    def mark(self, path: DocPath, *, key: bool = False) -> yaml.Mark | None:
        """Where the value (or the key) at ``path`` is written; its parent's when unknown."""
        nodes = self.keys if key else self.values
        if path in nodes:
            return nodes[path].start_mark
        return self.mark(path[:-1]) if path else None

    def where(self, path: DocPath) -> str:
        """``line L, column C`` of the value at ``path``, to name a second place."""
        mark = self.mark(path)
        return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "elsewhere"

    def source(self, path: DocPath) -> str | None:
        """The scalar at ``path`` as written, before YAML reads it (``0123`` stays ``0123``)."""
        node = self.values.get(path)
        return str(node.value) if isinstance(node, yaml.ScalarNode) else None

    def report(self, at: DocPath, message: str, *, key: bool = False) -> None:
        """Report ``message`` at ``at``, unless YAML could not read a value there."""
        own = 0 if key else 1  # a key is readable even when its value is not
        if not any(at[:n] in self.broken for n in range(len(at) + own)):
            self.problems.add(self.mark(at, key=key), message)

    def _build(  # noqa: PLR0911 -- one return per kind of node
        self, node: yaml.Node, path: DocPath, ancestors: tuple[int, ...]
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

    def _scalar(self, node: yaml.ScalarNode, path: DocPath) -> object:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problems.add(node.start_mark, f"cannot read {node.value!r}: {exc.problem}")
        except (ValueError, TypeError, OverflowError) as exc:
            self.problems.add(node.start_mark, f"cannot read {node.value!r}: {exc}")
        self.broken.add(path)
        return None

    def _check_tag(self, node: yaml.Node, kind: str, path: DocPath) -> None:
        if node.tag != _tag(kind):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            expected = "list" if kind == "seq" else "mapping"
            self.problems.add(
                node.start_mark, f"unsupported YAML tag {tag}; expected a plain {expected}"
            )
            self.broken.add(path)

    def _mapping(
        self, node: yaml.MappingNode, path: DocPath, ancestors: tuple[int, ...]
    ) -> dict[str, object]:
        out: dict[str, object] = {}
        for key_node, value_node, merged in self._pairs(node, ancestors):
            if not isinstance(key_node, yaml.ScalarNode):
                found = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                self.problems.add(key_node.start_mark, f"expected a key name, got {found}")
                continue
            key = str(key_node.value)
            key_path: DocPath = (*path, key)
            if key in out:
                if not merged:
                    first = self.keys[key_path].start_mark
                    msg = (
                        f"duplicate key {describe(key)} {within(path)} (first at line"
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


def _tag(name: str) -> str:
    return f"tag:yaml.org,2002:{name}"
