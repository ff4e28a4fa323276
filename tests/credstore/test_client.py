"""CredentialHelper: docker's credential-helper protocol, spoken to real programs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ecrd.outputs.helpers import CredentialHelper, HelperError
from tests.credstore.fakes import FakeHelper, shell_calls, shell_helper
from tests.logins import HOST, PASSWORD, login


class TestCredentialHelper:
    def test_store_get_list_erase_round_trip(self, bin_dir):
        """store, get, list and erase speak the protocol a docker-credential-helpers store reads."""
        fake = FakeHelper(bin_dir, "fake")
        helper = CredentialHelper("fake")

        helper.store(server_url=HOST, login=login())
        got = helper.get(HOST)
        listed = helper.list()
        helper.erase(HOST)

        assert got is not None
        assert ("AWS", PASSWORD) == (got[0], got[1].reveal())
        assert {HOST: "AWS"} == listed
        assert {} == fake.entries()
        assert [("store", HOST), ("get", HOST), ("list", ""), ("erase", HOST)] == fake.calls()

    def test_get_of_an_unknown_host_is_none(self, bin_dir):
        """Docker's "credentials not found" answer reads as nothing held, not as an error."""
        FakeHelper(bin_dir, "fake")

        assert None is CredentialHelper("fake").get("unknown.example.com")

    def test_get_with_empty_fields_is_none(self, bin_dir):
        """docker-credential-pass answers an unknown host with exit 0 and empty fields."""
        shell_helper(
            bin_dir,
            "empty",
            'read url; printf \'{"ServerURL":"%s","Username":"","Secret":""}\\n\' "$url"',
        )

        assert None is CredentialHelper("empty").get(HOST)

    def test_erase_of_an_unknown_host_is_no_error(self, bin_dir):
        """Erasing what is not there succeeds: the goal is reached."""
        FakeHelper(bin_dir, "fake")

        CredentialHelper("fake").erase("unknown.example.com")

    def test_helper_runs_with_ecrd_environment(self, bin_dir, monkeypatch):
        """Helpers see ecrd's environment (pass needs GNUPGHOME, PASSWORD_STORE_DIR)."""
        fake = FakeHelper(bin_dir, "fake")
        monkeypatch.setenv("FAKE_HELPER_MARK", "from-ecrd")

        CredentialHelper("fake").list()

        assert ["from-ecrd"] == fake.marks()

    @pytest.mark.usefixtures("bin_dir")
    def test_missing_helper(self):
        """A helper not on PATH is named, and marks the helper broken."""
        with pytest.raises(HelperError) as caught:
            CredentialHelper("ecrd-test-missing").list()

        assert (
            "docker-credential-ecrd-test-missing is not installed (not found on PATH)",
            True,
        ) == (str(caught.value), caught.value.broken)

    def test_helper_that_cannot_be_run(self, bin_dir):
        """A helper file without execute permission says so."""
        program = bin_dir / "docker-credential-noexec"
        program.write_text("#!/bin/sh\n")
        program.chmod(0o644)

        with pytest.raises(HelperError) as caught:
            CredentialHelper("noexec").list()

        # shutil.which skips files that are not executable: to the user, it is missing.
        assert "docker-credential-noexec is not installed (not found on PATH)" == str(caught.value)

    def test_failure_quotes_the_helpers_message(self, bin_dir):
        """A non-zero exit gives the status and the helper's message (its stdout)."""
        shell_helper(bin_dir, "locked", 'cat > /dev/null; echo "keychain is locked"; exit 3')

        with pytest.raises(HelperError) as caught:
            CredentialHelper("locked").store(server_url=HOST, login=login())

        assert (
            "docker-credential-locked store failed (exit status 3): keychain is locked",
            False,
        ) == (str(caught.value), caught.value.broken)

    def test_failure_message_on_stderr_is_used_when_stdout_is_empty(self, bin_dir):
        """Helpers that write their error to stderr are quoted too."""
        shell_helper(bin_dir, "stderr", 'cat > /dev/null; echo "no dbus session" >&2; exit 1')

        with pytest.raises(HelperError) as caught:
            CredentialHelper("stderr").store(server_url=HOST, login=login())

        assert "docker-credential-stderr store failed (exit status 1): no dbus session" == str(
            caught.value
        )

    def test_not_implemented_store(self, bin_dir):
        """A helper answering "not implemented" to store (ecr-login) cannot be stored into."""
        shell_helper(bin_dir, "nostore", 'cat > /dev/null; echo "not implemented"; exit 1')

        with pytest.raises(HelperError) as caught:
            CredentialHelper("nostore").store(server_url=HOST, login=login())

        assert (
            'docker-credential-nostore cannot store credentials (it answers "not implemented")',
            True,
        ) == (str(caught.value), caught.value.broken)

    @pytest.mark.skipif(
        shutil.which("docker-credential-ecr-login") is None,
        reason="docker-credential-ecr-login is not installed (apt-get install amazon-ecr-credential-helper)",
    )
    def test_real_ecr_login_refuses_store(self):
        """Debian's docker-credential-ecr-login answers store with "not implemented"."""
        with pytest.raises(HelperError) as caught:
            CredentialHelper("ecr-login").store(server_url=HOST, login=login())

        assert (
            'docker-credential-ecr-login cannot store credentials (it answers "not implemented")'
        ) == str(caught.value)

    def test_hanging_helper_is_killed_with_what_it_started(self, bin_dir, tmp_path):
        """A helper that does not answer in time is killed, its children too."""
        pid_file = tmp_path / "child.pid"
        shell_helper(bin_dir, "hang", f'sleep 60 & echo $! > "{pid_file}"; wait')

        with pytest.raises(HelperError) as caught:
            CredentialHelper("hang", timeout=0.3).list()

        assert ("docker-credential-hang list did not answer within 0.3 s", True) == (
            str(caught.value),
            caught.value.broken,
        )
        child = int(pid_file.read_text())
        assert not _alive(child)

    def test_unparsable_get_answer_is_not_quoted(self, bin_dir):
        """An answer to get that is not JSON is reported without repeating it."""
        shell_helper(bin_dir, "garbage", "cat > /dev/null; echo 'Secret=hunter2-hunter2'")

        with pytest.raises(HelperError) as caught:
            CredentialHelper("garbage").get(HOST)

        assert "docker-credential-garbage get answered something that is not credentials JSON" == (
            str(caught.value)
        )

    def test_message_repeating_the_secret_is_withheld(self, bin_dir):
        """A helper that echoes its input in an error does not leak the password."""
        shell_helper(bin_dir, "echo", "cat; exit 1")

        with pytest.raises(HelperError) as caught:
            CredentialHelper("echo").store(server_url=HOST, login=login("short-pw-" + "q" * 20))

        assert PASSWORD not in str(caught.value)
        assert "short-pw" not in str(caught.value)
        assert str(caught.value).startswith("docker-credential-echo store failed (exit status 1): ")

    def test_token_like_runs_are_masked(self, bin_dir):
        """Long base64-looking runs in a helper's message are masked; the rest is kept."""
        shell_helper(bin_dir, "b64", f"cat > /dev/null; echo 'bad token {'QUJD' * 20}'; exit 1")

        with pytest.raises(HelperError) as caught:
            CredentialHelper("b64").erase(HOST)

        assert "docker-credential-b64 erase failed (exit status 1): bad token ***" == str(
            caught.value
        )
        assert ["erase"] == shell_calls(bin_dir, "b64")


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its reaper does not)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        # SIGKILL is delivered asynchronously: poll briefly.
        time.sleep(0.02)
    return True
