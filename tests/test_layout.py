"""The README's map holds: nothing imports upwards, and the entry points are imported by no one.

Each top-level module or package of ``ecrd`` is one place; an import of another place, at
run time or only for type checking, is an arrow. Arrows that make a circle mean that
something imports upwards.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ecrd

PACKAGE = Path(ecrd.__file__).parent


def place_of(module: str) -> str | None:
    """The top-level place of ``ecrd`` that ``module`` (dotted) lies in, if any."""
    parts = module.split(".")
    if parts[0] != "ecrd" or len(parts) < 2:
        return None
    name = parts[1]
    return name if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists() else None


def arrows() -> dict[str, set[str]]:
    """Place -> the other places it imports."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        source = place_of(".".join(("ecrd", *path.relative_to(PACKAGE).with_suffix("").parts)))
        if source is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                target = place_of(name)
                if target is not None and target != source:
                    found.setdefault(source, set()).add(target)
    return found


def circles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every pair of places each of which reaches the other."""

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    pairs = {(min(a, b), max(a, b)) for a, targets in graph.items() for b in targets}
    return sorted((a, b) for a, b in pairs if reaches(a, b) and reaches(b, a))


def importers(graph: dict[str, set[str]], place: str) -> list[str]:
    return sorted(source for source, targets in graph.items() if place in targets)


def test_nothing_imports_upwards():
    """No two places import each other, directly or through others (type-only imports too)."""
    assert [] == circles(arrows())


def test_the_command_line_is_imported_only_by_its_entry_and_its_man_pages():
    """Cli is the top: only ``python -m ecrd`` and the man pages (its help) import it."""
    assert ["__main__", "manpages"] == importers(arrows(), "cli")


def test_the_daemon_is_imported_only_by_the_commands_that_run_it():
    """daemon/ is run by `ecrd run` (cli) and `ecrd demo`; nothing below it imports it."""
    assert ["cli", "demo"] == importers(arrows(), "daemon")


def test_a_circle_is_seen():
    """The check finds an upward import: two places through a third."""
    assert [("a", "b"), ("a", "c"), ("b", "c")] == circles({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert [] == circles({"a": {"b"}, "b": {"c"}})
