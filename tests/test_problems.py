"""Problem records: each once by value, grouped by host, path and code into a host's state."""

from __future__ import annotations

from ecrd.problems import (
    MODE_KEPT,
    NOT_ERASED,
    NOT_READ,
    OUTPUT_FAILED,
    PRIVATE_TMP,
    SHADOWED,
    STATE_FAILED,
    Code,
    HostVerdict,
    Problem,
    host_verdict,
    messages,
    unique,
    with_code,
)

HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
OTHER = "222222222222.dkr.ecr.us-east-1.amazonaws.com"
DOCKER = "/home/me/.docker/config.json"
NETRC = "/home/me/.netrc"


def problem(
    code: Code, message: str, *, host: str | None = HOST, path: str | None = DOCKER
) -> Problem:
    return Problem(host=host, path=path, code=code, message=message)


class TestProblem:
    def test_equal_records_are_kept_once_in_first_order(self):
        """Two records equal in every field are one; the order is that of first sight."""
        first = problem(SHADOWED, "a shadow")
        second = problem(NOT_ERASED, "not erased")

        actual = unique([first, second, problem(SHADOWED, "a shadow"), first])

        assert (first, second) == actual

    def test_one_message_for_several_hosts_is_one_record_each_and_said_once(self):
        """A text shared by two hosts stays two records, and is said once to users."""
        records = [
            problem(PRIVATE_TMP, "under /tmp", host=HOST),
            problem(PRIVATE_TMP, "under /tmp", host=OTHER),
        ]

        assert (2, ("under /tmp",)) == (len(unique(records)), messages(records))

    def test_only_not_read_and_output_failed_fail(self):
        """A login its clients do not read and an output not written fail; the rest warn."""
        codes: list[Code] = [
            NOT_READ,
            OUTPUT_FAILED,
            NOT_ERASED,
            SHADOWED,
            MODE_KEPT,
            PRIVATE_TMP,
            STATE_FAILED,
        ]

        actual = [c for c in codes if problem(c, "x").failing]

        assert [NOT_READ, OUTPUT_FAILED] == actual

    def test_with_code_keeps_the_order(self):
        """Filtering by code keeps the records' order."""
        records = [problem(OUTPUT_FAILED, "a"), problem(SHADOWED, "b"), problem(OUTPUT_FAILED, "c")]

        assert ["a", "c"] == [p.message for p in with_code(records, OUTPUT_FAILED)]


class TestHostVerdict:
    def test_not_read_is_the_host_s_error_and_not_a_warning(self):
        """A NotRead record of the host is its error (code NotRead); it is no warning too."""
        records = [problem(NOT_READ, "not read"), problem(SHADOWED, "shadowed")]

        actual = host_verdict(records, host=HOST, outputs=[DOCKER])

        assert HostVerdict(warnings=("shadowed",), error="not read", code=NOT_READ) == actual

    def test_output_failed_fails_the_hosts_it_does_not_hold(self):
        """An output not written is the error of every host; a host it holds is not failing."""
        records = [problem(OUTPUT_FAILED, "cannot write netrc", host=None, path=NETRC)]

        failing = host_verdict(records, host=HOST, outputs=[DOCKER])
        held = host_verdict(records, host=HOST, outputs=[DOCKER, NETRC])

        assert HostVerdict(warnings=(), error="cannot write netrc", code=OUTPUT_FAILED) == failing
        assert HostVerdict(warnings=(), error=None, code=None) == held

    def test_not_read_wins_over_an_output_that_failed(self):
        """A host both unread and missing an output: its code is NotRead, its error that text."""
        records = [
            problem(OUTPUT_FAILED, "cannot write netrc", host=None, path=NETRC),
            problem(NOT_READ, "not read"),
        ]

        actual = host_verdict(records, host=HOST, outputs=[DOCKER])

        assert ("not read", NOT_READ) == (actual.error, actual.code)

    def test_warnings_are_the_host_s_own_each_once(self):
        """Warnings of other hosts, or of no host (a mode kept), are not the host's."""
        records = [
            problem(SHADOWED, "shadowed"),
            problem(SHADOWED, "shadowed", path="/run/containers/auth.json"),
            problem(NOT_ERASED, "theirs", host=OTHER),
            problem(MODE_KEPT, "readable by others", host=None),
            problem(STATE_FAILED, "state not saved", host=None, path=None),
        ]

        actual = host_verdict(records, host=HOST, outputs=[DOCKER])

        assert HostVerdict(warnings=("shadowed",), error=None, code=None) == actual
