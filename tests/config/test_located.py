"""libyaml and the pure-Python parser compose the same nodes, with the same marks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ecrd.config._located import _compose_explained, _compose_fast

EXAMPLE = Path(__file__).parents[2] / "config" / "ecrd.example.yaml"


def shape(node: yaml.Node | None) -> object:
    """The node as nested tuples: tag, value, quoting, and where it starts and ends.

    A plain scalar's style is None to one parser and "" to the other (ecrd reads neither).
    """
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return (node.tag, node.value, node.style or None, where)
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, tuple(shape(n) for n in node.value), where)
    return (node.tag, tuple((shape(k), shape(v)) for k, v in node.value), where)


@pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE.read_text(),
        "registries:\n  - 123456789012.dkr.ecr.us-east-1.amazonaws.com\n",
        "refresh: {before_expiry: 6h, jitter: 0}\nregistries:\n  - {registry_id: '1', region: eu-west-1}\n",
        "# only a comment\n",
        "outputs:\n- type: netrc\n  path: ~/.netrc\nregistries: [a, b, 'c', \"d\"]\naws: {profile: x}\n",
        "a: &anchor [1, 2]\nb: *anchor\nc: |\n  block\n  text\n",
        "",
    ],
)  # fmt: skip
def test_both_parsers_give_the_same_nodes_and_marks(text):
    """Errors point at the same line and column whichever parser read the file."""
    assert shape(_compose_explained(text, label="f")) == shape(_compose_fast(text))
