"""DockerOutput with credsStore/credHelpers: credentials go where docker looks for them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError
from ecrd.outputs import fingerprint
from ecrd.outputs.docker import DockerOutput
from ecrd.problems import NOT_ERASED, NOT_READ, Problem
from tests.credstore.fakes import shell_calls, shell_helper
from tests.logins import HOST, OTHER, PASSWORD, auth, login
from tests.logins import read_json as read
from tests.logins import write_json as write

if TYPE_CHECKING:
    from pathlib import Path

NEW_PASSWORD = "eyJuZXh0Ijp0cnVlfQ" * 120
FOREIGN = {"ghcr.io": {"auth": "dXNlcjpwYXNz"}}


def stored(name: str, password: str = PASSWORD) -> str:
    """What ecrd records for an entry stored through docker-credential-NAME."""
    return f"docker-credential-{name}:{fingerprint(auth(password))}"


def output(path: Path, *, timeout: float = 10.0) -> DockerOutput:
    return DockerOutput(OutputSpec(type="docker", path=path), helper_timeout=timeout)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "docker" / "config.json"


class TestDockerOutputWithHelpers:
    def test_cred_helpers_host_is_stored_through_its_helper(self, path, fake, writes):
        """credHelpers[host] = NAME: one store through NAME, and no auths entry for the host."""
        write(path, {"auths": FOREIGN, "credHelpers": {HOST: "fake"}})

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert {HOST: ("AWS", PASSWORD)} == fake.entries()
        assert [("store", HOST)] == fake.calls()
        assert {**FOREIGN, OTHER: {"auth": auth()}} == read(path)["auths"]
        assert {HOST: stored("fake"), OTHER: fingerprint(auth())} == dict(result.fingerprints)
        assert ((HOST,), (), 1) == (result.stored, result.problems, len(writes))

    def test_creds_store_takes_every_managed_host(self, path, fake):
        """With credsStore NAME, every managed host goes to NAME; other entries stay as they were."""
        write(path, {"auths": FOREIGN, "credsStore": "fake"})

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert {HOST: ("AWS", PASSWORD), OTHER: ("AWS", PASSWORD)} == fake.entries()
        assert {"auths": FOREIGN, "credsStore": "fake"} == read(path)
        assert (False, (HOST, OTHER)) == (result.written, result.stored)

    def test_empty_cred_helper_means_auths(self, path, fake):
        """credHelpers[host] = "" sends docker to auths for that host, whatever credsStore says."""
        write(path, {"credsStore": "fake", "credHelpers": {HOST: ""}})

        output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert {HOST: {"auth": auth()}} == read(path)["auths"]
        assert [("store", OTHER)] == fake.calls()

    def test_ecrd_helper_needs_no_store_and_no_auths(self, path, fake):
        """credHelpers[host] = "ecrd": nothing stored, no auths entry; the tokens file serves it."""
        write(path, {"credsStore": "fake", "credHelpers": {HOST: "ecrd"}})

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert [] == fake.calls()
        assert {"credsStore": "fake", "credHelpers": {HOST: "ecrd"}} == read(path)
        assert ((HOST,), {}, False) == (result.delegated, dict(result.fingerprints), result.written)

    def test_unchanged_token_is_not_stored_again(self, path, fake):
        """The same token again costs one list of the helper, and no store."""
        write(path, {"credsStore": "fake"})
        first = output(path).apply(logins={HOST: login()}, remove={})
        fake.forget_calls()

        second = output(path).apply(logins={HOST: login()}, remove=dict(first.fingerprints))

        assert [("list", "")] == fake.calls()
        assert ((), {HOST: stored("fake")}) == (second.stored, dict(second.fingerprints))

    def test_new_token_is_stored_once(self, path, fake):
        """A new token is stored once per host, with no get before it."""
        write(path, {"credsStore": "fake"})
        first = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})
        fake.forget_calls()

        output(path).apply(
            logins={HOST: login(NEW_PASSWORD), OTHER: login(NEW_PASSWORD)},
            remove=dict(first.fingerprints),
        )

        assert [("store", HOST), ("store", OTHER)] == fake.calls()
        assert ("AWS", NEW_PASSWORD) == fake.entries()[HOST]

    def test_entry_erased_from_the_helper_is_stored_again(self, path, fake):
        """After `docker logout` erased the helper's entry, the next apply stores it again."""
        write(path, {"credsStore": "fake"})
        first = output(path).apply(logins={HOST: login()}, remove={})
        (fake.program.parent / "docker-credential-fake.json").write_text(
            json.dumps({"other.example.com": ["me", "theirs"]})
        )
        fake.forget_calls()

        output(path).apply(logins={HOST: login()}, remove=dict(first.fingerprints))

        assert [("list", ""), ("store", HOST)] == fake.calls()
        assert ("AWS", PASSWORD) == fake.entries()[HOST]

    def test_moving_to_a_helper_removes_ecrd_auths_entry(self, path, fake):
        """When credsStore appears, ecrd's old auths entry goes; others' entries stay."""
        first = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})
        document = read(path)
        document["credsStore"] = "fake"
        document["auths"] = {**FOREIGN, **document["auths"]}  # type: ignore[dict-item]
        document["auths"][OTHER] = {"auth": auth("someone-else")}  # type: ignore[index]
        write(path, document)

        result = output(path).apply(
            logins={HOST: login(), OTHER: login()}, remove=dict(first.fingerprints)
        )

        assert {**FOREIGN, OTHER: {"auth": auth("someone-else")}} == read(path)["auths"]
        assert ({HOST, OTHER}, (HOST,)) == (set(fake.entries()), result.removed)

    def test_moving_back_to_auths_erases_ecrd_helper_entry(self, path, fake):
        """When credsStore goes, the host returns to auths and ecrd erases what it stored."""
        write(path, {"credsStore": "fake"})
        first = output(path).apply(logins={HOST: login()}, remove={})
        write(path, {})
        fake.forget_calls()

        result = output(path).apply(logins={HOST: login()}, remove=dict(first.fingerprints))

        assert {HOST: {"auth": auth()}} == read(path)["auths"]
        assert {} == fake.entries()
        assert [("list", ""), ("get", HOST), ("erase", HOST)] == fake.calls()
        assert {HOST: fingerprint(auth())} == dict(result.fingerprints)

    def test_removed_host_is_erased_only_when_ecrd_stored_it(self, path, fake):
        """A host that leaves is erased if the helper holds ecrd's token, kept otherwise."""
        write(path, {"credsStore": "fake"})
        fake.put("ghcr.io", "me", "mine")
        first = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})
        fake.put(OTHER, "AWS", "a-token-from-docker-login")
        fake.forget_calls()

        result = output(path).apply(logins={}, remove=dict(first.fingerprints))

        assert {"ghcr.io": ("me", "mine"), OTHER: ("AWS", "a-token-from-docker-login")} == (
            fake.entries()
        )
        assert [("list", ""), ("get", HOST), ("erase", HOST), ("get", OTHER)] == fake.calls()
        assert ((HOST,), {}, {}) == (
            result.removed,
            dict(result.fingerprints),
            dict(result.retained),
        )

    def test_removed_host_the_helper_no_longer_lists_costs_no_get(self, path, fake):
        """An entry the helper does not list is gone: ecrd forgets it without asking more."""
        result = output(path).apply(logins={}, remove={HOST: stored("fake")})

        assert ([("list", "")], (), {}) == (fake.calls(), result.removed, dict(result.retained))

    @pytest.mark.usefixtures("bin_dir")
    def test_erase_that_fails_is_retried_later(self, path):
        """When the helper cannot be reached, ecrd keeps owning the entry and says so."""
        result = output(path).apply(logins={}, remove={HOST: stored("ecrd-test-missing")})

        assert {HOST: stored("ecrd-test-missing")} == dict(result.retained)
        expected = (
            f"{HOST} left ecrd's configuration, but ecrd could not erase the credentials it "
            "stored for it through docker-credential-ecrd-test-missing: "
            "docker-credential-ecrd-test-missing is not installed (not found on PATH); "
            "ecrd tries again at the next refresh"
        )
        assert (Problem(host=HOST, path=str(path), code=NOT_ERASED, message=expected),) == (
            result.problems
        )

    @pytest.mark.usefixtures("bin_dir")
    def test_missing_helper_falls_back_to_auths_with_a_warning(self, path, writes):
        """A helper not on PATH: the host gets its auths entry, and the warning says what to do."""
        write(path, {"credsStore": "ecrd-test-missing"})

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert {HOST: {"auth": auth()}} == read(path)["auths"]
        assert (
            f"{HOST}: ecrd could not store the credentials through "
            f"docker-credential-ecrd-test-missing (credsStore in {path}): "
            "docker-credential-ecrd-test-missing is not installed (not found on PATH); docker "
            "asks docker-credential-ecrd-test-missing for this host and will not find them "
            "(ecrd wrote them into auths instead, where podman and skopeo, which ignore "
            "credsStore, find them); "
            f'add "{HOST}": "ecrd" to credHelpers (ecrd then serves this host itself), '
            "or remove credsStore"
        ) == result.problems[0].message
        assert ((HOST, NOT_READ), 1, {HOST: fingerprint(auth())}, 1) == (
            (result.problems[0].host, result.problems[0].code),
            len(result.problems),
            dict(result.fingerprints),
            len(writes),
        )

    def test_failing_helper_quotes_its_message(self, path, bin_dir):
        """A helper exiting non-zero: its message is in the warning, with credHelpers advice."""
        shell_helper(bin_dir, "locked", 'cat > /dev/null; echo "keychain is locked"; exit 1')
        write(path, {"credHelpers": {HOST: "locked"}})

        result = output(path).apply(logins={HOST: login()}, remove={})

        expected = (
            f"{HOST}: ecrd could not store the credentials through docker-credential-locked "
            f"(credHelpers in {path}): docker-credential-locked store failed (exit status 1): "
            "keychain is locked; docker, podman and skopeo ask docker-credential-locked for "
            "this host and will not find them (ecrd wrote them into auths instead); "
            f'set credHelpers["{HOST}"] to "ecrd" (ecrd then serves this host itself), or to '
            '"" (clients then read auths)'
        )
        assert (expected,) == tuple(p.message for p in result.problems)
        assert {HOST: {"auth": auth()}} == read(path)["auths"]

    def test_hanging_helper_is_given_up_after_the_timeout_once(self, path, bin_dir):
        """A helper that hangs is killed at the timeout, and not run again for other hosts."""
        shell_helper(bin_dir, "hang", "exec sleep 60")
        write(path, {"credsStore": "hang"})

        result = output(path, timeout=0.3).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert ["store"] == shell_calls(bin_dir, "hang")
        assert {HOST: {"auth": auth()}, OTHER: {"auth": auth()}} == read(path)["auths"]
        assert [HOST, OTHER] == [p.host for p in result.problems]
        assert all(
            "docker-credential-hang store did not answer within 0.3 s" in p.message
            for p in result.problems
        )

    def test_helper_refusing_store_is_reported(self, path, bin_dir):
        """A helper answering "not implemented" (as ecr-login does) is named in the warning."""
        shell_helper(bin_dir, "nostore", 'cat > /dev/null; echo "not implemented"; exit 1')
        write(path, {"credHelpers": {HOST: "nostore", OTHER: "nostore"}})

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert ["store"] == shell_calls(bin_dir, "nostore")
        assert (
            'docker-credential-nostore cannot store credentials (it answers "not implemented")'
            in next(p.message for p in result.problems if p.host == OTHER)
        )

    def test_other_hosts_and_helpers_are_unharmed_by_a_failing_helper(self, path, fake, bin_dir):
        """One broken helper spoils nothing else: the other host is stored through its own."""
        shell_helper(bin_dir, "locked", 'cat > /dev/null; echo "locked"; exit 1')
        write(path, {"credHelpers": {HOST: "locked", OTHER: "fake"}})

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        assert {OTHER: ("AWS", PASSWORD)} == fake.entries()
        assert ([HOST], {HOST: {"auth": auth()}}) == (
            [p.host for p in result.problems],
            read(path)["auths"],
        )

    def test_no_secret_in_warnings_of_an_echoing_helper(self, path, bin_dir):
        """A helper that repeats its input in its error leaks no password into the warning."""
        shell_helper(bin_dir, "echo", "cat; exit 1")
        write(path, {"credsStore": "echo"})

        result = output(path).apply(logins={HOST: login()}, remove={})

        text = repr(result)
        assert (False, False) == (PASSWORD[:16] in text, auth()[:16] in text)
        assert '"Secret": "***' in result.problems[0].message

    def test_unparsable_file_calls_no_helper(self, path, fake):
        """A docker file that cannot be parsed is left alone, and no helper is run."""
        path.parent.mkdir()
        path.write_text('{"credsStore": "fake", ')

        with pytest.raises(OutputError, match="cannot parse"):
            output(path).apply(logins={HOST: login()}, remove={})

        assert [] == fake.calls()
