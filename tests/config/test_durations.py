"""Durations as users write them in the configuration and on the command line."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrd.config.describe import describe
from ecrd.config.durations import format_duration, parse_duration

EXPECTED = "expected a duration such as 90s, 5m, 4h, 1h30m or a number of seconds"


class TestParseDuration:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("90s", timedelta(seconds=90)),
            ("5m", timedelta(minutes=5)),
            ("4h", timedelta(hours=4)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("1h30m15s", timedelta(hours=1, minutes=30, seconds=15)),
            ("2h15s", timedelta(hours=2, seconds=15)),
            ("90m", timedelta(minutes=90)),
            ("0s", timedelta(0)),
            (" 5m ", timedelta(minutes=5)),
            ("+5m", timedelta(minutes=5)),
            ("90", timedelta(seconds=90)),
            ("0.5", timedelta(seconds=0.5)),
            (90, timedelta(seconds=90)),
            (0, timedelta(0)),
            (1.5, timedelta(seconds=1.5)),
        ],
    )
    def test_accepts(self, value, expected):
        """Units h, m and s in that order, or a number of seconds as a number or digits."""
        assert expected == parse_duration(value)

    @pytest.mark.parametrize(
        ("value", "found"),
        [
            ("5 minutes", "'5 minutes'"),
            ("", "''"),
            ("h", "'h'"),
            ("30m1h", "'30m1h'"),
            ("5m5m", "'5m5m'"),
            ("1d", "'1d'"),
            ("100ms", "'100ms'"),
            ("1.5h", "'1.5h'"),
            ("5M", "'5M'"),
            (True, "true"),
            (None, "null"),
            ([5], "a list"),
            ({"m": 5}, "a mapping"),
            (float("nan"), "nan"),
            (float("inf"), "inf"),
        ],
    )
    def test_rejects_what_is_not_a_duration(self, value, found):
        """Anything else is a ValueError saying what was expected and what was found."""
        with pytest.raises(ValueError, match=r".") as info:
            parse_duration(value)

        assert f"{EXPECTED}, got {found}" == str(info.value)

    @pytest.mark.parametrize(("value", "found"), [(-5, "-5"), ("-5m", "'-5m'"), (-0.5, "-0.5")])
    def test_rejects_negative(self, value, found):
        """A negative duration is an error of its own."""
        with pytest.raises(ValueError, match=r".") as info:
            parse_duration(value)

        assert f"a duration cannot be negative, got {found}" == str(info.value)

    @pytest.mark.parametrize("value", [10**30, "9" * 30 + "h", 1e300])
    def test_rejects_overflowing(self, value):
        """A duration longer than timedelta can hold is a ValueError, not an OverflowError."""
        with pytest.raises(ValueError, match="must be shorter than a million years"):
            parse_duration(value)

    @given(st.integers(min_value=0, max_value=10**6))
    def test_units_add_up(self, seconds):
        """Any whole number of seconds, written as hours, minutes and seconds, reads back."""
        hours, rest = divmod(seconds, 3600)
        text = f"{hours}h{rest // 60}m{rest % 60}s"

        assert timedelta(seconds=seconds) == parse_duration(text)

    @given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans()))
    def test_only_value_error(self, value):
        """Whatever it is given, parse_duration returns a timedelta or raises ValueError."""
        try:
            result = parse_duration(value)
        except ValueError:
            return

        assert isinstance(result, timedelta)


class TestDescribe:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, "null"),
            (False, "false"),
            ("it's", "'it''s'"),
            ("two\nlines\t", "'two\\nlines\\t'"),
            ("x" * 80, "'" + "x" * 57 + "...'"),
            (12, "12"),
            (datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc), "a date and time"),
            (date(2026, 1, 2), "a date"),
            ((1,), "a list"),
            (b"x", "a bytes"),
        ],
    )
    def test_spells_values_as_yaml_would(self, value, expected):
        """Values in messages read as YAML: null, true/false, single-quoted strings."""
        assert expected == describe(value)


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (timedelta(0), "0s"),
            (timedelta(seconds=90), "1m30s"),
            (timedelta(hours=6), "6h"),
            (timedelta(hours=1, minutes=30, seconds=15), "1h30m15s"),
            (timedelta(milliseconds=500), "0.5s"),
        ],
    )
    def test_spells_durations_as_the_configuration_does(self, value, expected):
        """A duration is printed as it would be written in the configuration."""
        assert expected == format_duration(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (timedelta(days=2, hours=3, minutes=4), "2d03h"),
            (timedelta(hours=11, minutes=59, seconds=59), "11h59m"),
            (timedelta(minutes=4, seconds=5), "4m05s"),
            (timedelta(seconds=7), "7s"),
            (timedelta(seconds=-3), "0s"),
        ],
    )
    def test_rounded_keeps_two_units(self, value, expected):
        """Rounded, a duration keeps its two largest units; a past time reads 0s."""
        assert expected == format_duration(value, rounded=True)

    @given(st.integers(min_value=0, max_value=10**9))
    def test_round_trips_through_the_parser(self, seconds):
        """What format_duration writes, parse_duration reads back as the same duration."""
        value = timedelta(seconds=seconds)

        assert value == parse_duration(format_duration(value))
