"""The renderers against the AWS CLI's own formatters, on hundreds of generated answers.

awscli cannot be imported here (importing it aliases ``botocore`` to its own vendored
copy for the whole process), so one subprocess renders the whole corpus with awscli's
formatters and this process compares ecrd's output with it, case by case.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import pytest
import yaml

from ecrd.awscli.render import (
    INPUT_SKELETON,
    YAML_INPUT_SKELETON,
    RenderError,
    render,
    render_table,
    render_yaml,
    render_yaml_stream,
    to_iso8601,
)

_AWSCLI_RENDERER = """
import io, json, sys
from argparse import Namespace

import colorama, jmespath
from awscli.formatter import get_formatter

values = json.load(sys.stdin)
stdout, query, results = sys.stdout, jmespath.compile("v"), []
for value in values:
    row = {}
    for mode in ("json", "text", "table-off", "table-on"):
        output, _, color = mode.partition("-")
        sys.stdout = buffer = io.StringIO()
        try:
            formatter = get_formatter(output, Namespace(query=query, color=color or "off"))
            formatter("GetAuthorizationToken", {"v": value})
            row[mode] = buffer.getvalue()
        except Exception as exc:
            row[mode] = {"error": str(exc)}
        finally:
            if color == "on":
                colorama.deinit()
            sys.stdout = stdout
    results.append(row)
json.dump(results, sys.stdout)
"""

_WORDS = ["a", "b", "Id", "arn", "Name", "x" * 30, "", "桌子", "é", "None", "a b c"]


def _value(rng: random.Random, depth: int) -> object:
    kind = rng.random()
    if depth > 2 or kind < 0.45:
        return rng.choice(
            [
                rng.choice(_WORDS),
                rng.randint(-5, 10**10),
                rng.choice([0.5, 1735830245.678, -2.25, 1e20]),
                rng.choice([True, False, None]),
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com" * rng.randint(1, 2),
            ]
        )
    if kind < 0.75:
        keys = rng.sample(["alpha", "Beta", "gamma", "d", "proxyEndpoint", "z9"], rng.randint(0, 4))
        return {k: _value(rng, depth + 1) for k in keys}
    if rng.random() < 0.5:  # a list of similar records, as in answers
        keys = rng.sample(["alpha", "Beta", "gamma", "tags"], rng.randint(1, 3))
        return [
            {k: _value(rng, depth + 1) for k in keys if rng.random() < 0.9}
            for _ in range(rng.randint(1, 3))
        ]
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def _corpus() -> list[Any]:
    rng = random.Random(20250102)  # noqa: S311 - test data, not secrets
    answer = {
        "authorizationData": [
            {
                "authorizationToken": "QVdT" + "x" * 60,
                "expiresAt": 1735830245.678,
                "proxyEndpoint": "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com",
            },
            {
                "authorizationToken": "QVdT" + "y" * 3000,
                "expiresAt": 1420070400,
                "proxyEndpoint": "https://222222222222.dkr.ecr.eu-west-1.amazonaws.com",
            },
        ]
    }
    handmade: list[Any] = [
        answer,
        answer["authorizationData"][:1],
        {},
        [],
        None,
        0,
        "",
        "text",
        [[1, 2], [3, 4]],
        [[1, 2], [3]],
        [1, [2, 3], {"k": "v"}],
        {"only": "one"},
        {"wide": "桌子" * 50, "narrow": "x"},
    ]
    return handmade + [_value(rng, 0) for _ in range(400)]


@pytest.fixture(scope="module")
def awscli_rendered() -> list[tuple[Any, dict[str, Any]]]:
    """The corpus, each value with what awscli's formatters print for it."""
    corpus = _corpus()
    done = subprocess.run(
        [sys.executable, "-c", _AWSCLI_RENDERER],
        input=json.dumps(corpus),
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=True,
    )
    return list(zip(corpus, json.loads(done.stdout), strict=True))


def _ecrd(value: object, mode: str) -> str | dict[str, str]:
    output, _, color = mode.partition("-")
    try:
        return render(value, output=output, color=color == "on", width=80)  # type: ignore[arg-type]
    except RenderError as exc:
        return {"error": str(exc)}


class TestAgainstAwscliFormatters:
    @pytest.mark.parametrize("mode", ["json", "text", "table-off", "table-on"])
    def test_every_generated_answer_renders_as_awscli(self, awscli_rendered, mode):
        """json, text and table (plain and coloured) equal awscli's, byte for byte."""
        compared = [
            (value, expected[mode], _ecrd(value, mode))
            for value, expected in awscli_rendered
            if not (
                isinstance(expected[mode], dict) and "Row should" not in expected[mode]["error"]
            )
        ]
        mismatches = [(v, e, a) for v, e, a in compared if e != a]

        assert [] == mismatches[:3]
        assert len(compared) > 300


class TestTable:
    def test_narrow_terminal_turns_single_rows_vertical(self):
        """Past the terminal's width, a one-row section becomes "header | value" lines."""
        data = {"alpha": "a" * 30, "beta": "b" * 30}

        wide = render_table(data, title="T", width=200)
        narrow = render_table(data, title="T", width=40)

        assert "|              alpha              |              beta                |" in wide
        assert ["|  alpha|  " + "a" * 30 + "   |", "|  beta |  " + "b" * 30 + "   |"] == [
            line for line in narrow.splitlines() if "alpha" in line or "beta" in line
        ]

    def test_rows_of_different_lengths_fail_as_in_the_aws_cli(self):
        """A list of lists of different lengths cannot be a table: the AWS CLI's message."""
        with pytest.raises(RenderError, match="Row should have 2 elements, instead it has 1"):
            render_table([[1, 2], [3]], title="T")


class TestYaml:
    def test_answer_reads_back_as_the_json(self):
        """The yaml output parses to the data json prints, expiresAt included."""
        answer = {
            "authorizationData": [
                {
                    "authorizationToken": "QVdT" + "z" * 3000,
                    "expiresAt": 1735830245.678,
                    "proxyEndpoint": "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com",
                }
            ]
        }

        text = render_yaml(answer)

        assert json.loads(render(answer, output="json")) == yaml.safe_load(text)
        assert text.startswith("authorizationData:\n- authorizationToken: QVdTzzz")

    def test_format_of_aws_cli_v2(self):
        """Block style, keys sorted, lists not indented, as v2's documented examples."""
        users = {"Users": [{"Path": "/", "CreateDate": "2014-10-16T16:03:09+00:00", "Arn": "a"}]}

        text = render_yaml(users)

        assert "Users:\n- Arn: a\n  CreateDate: '2014-10-16T16:03:09+00:00'\n  Path: /\n" == text

    def test_stream_is_a_list_of_answers(self):
        """yaml-stream prints each answer as an item of a top-level list (v2's example)."""
        assert "- TableNames:\n  - MyTable\n" == render_yaml_stream({"TableNames": ["MyTable"]})

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(1, "1\n"), (1.2, "1.2\n"), (True, "true\n"), ("foo", '"foo"\n'), (["a", "b"], "- a\n- b\n")],
    )  # fmt: skip
    def test_scalars_as_aws_cli_v2(self, value, expected):
        """A bare scalar has no document end marker and a bare string is quoted (v2's tests)."""
        assert expected == render_yaml(value)

    def test_empty_answer_prints_nothing(self):
        """As json: an empty answer prints nothing."""
        assert "" == render_yaml({})

    def test_yaml_input_skeleton_is_the_json_skeleton(self):
        """--generate-cli-skeleton yaml-input reads back as the input skeleton."""
        assert INPUT_SKELETON == yaml.safe_load(YAML_INPUT_SKELETON)


class TestIso8601:
    def test_expiry_in_local_time_with_offset(self, local_tz):
        """Epoch seconds become ISO 8601 in the local zone, microseconds kept."""
        answer = {"authorizationData": [{"expiresAt": 1735830245.678}, {"expiresAt": 1420070400}]}

        converted = to_iso8601(answer)

        assert [
            {"expiresAt": f"2025-01-02T20:34:05.678000{local_tz}"},
            {"expiresAt": f"2015-01-01T05:30:00{local_tz}"},
        ] == converted["authorizationData"]
