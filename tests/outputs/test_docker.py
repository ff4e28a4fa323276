"""DockerOutput: auths entries set and removed; everything else kept, in order."""

from __future__ import annotations

import json
import os
import stat
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrd import files as _atomic
from ecrd.config.model import OutputSpec
from ecrd.errors import OutputError
from ecrd.outputs import fingerprint
from ecrd.outputs.docker import DockerOutput
from ecrd.problems import NOT_READ, Problem
from tests.logins import HOST, OTHER, PASSWORD, auth, login
from tests.strategies import docker_configs, ecr_passwords, hosts

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def output(path: Path) -> DockerOutput:
    return DockerOutput(OutputSpec(type="docker", path=path))


def dump(document: object) -> bytes:
    return (json.dumps(document, indent="\t") + "\n").encode()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "docker" / "config.json"


@pytest.fixture(autouse=True)
def private_umask() -> Iterator[None]:
    """Files the tests write are 0600, as docker leaves config.json (wider ones are warned about)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def no_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH where no docker-credential-* program is found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


class TestDockerOutput:
    def test_new_file(self, path, writes):
        """A missing file is created 0600 (its directory 0700) with docker's layout."""
        result = output(path).apply(logins={HOST: login()}, remove={})

        assert (dump({"auths": {HOST: {"auth": auth()}}}), 0o600, 0o700, 1) == (
            path.read_bytes(),
            stat.S_IMODE(path.stat().st_mode),
            stat.S_IMODE(path.parent.stat().st_mode),
            len(writes),
        )
        assert (True, {HOST: fingerprint(auth())}, ()) == (
            result.written,
            dict(result.fingerprints),
            result.problems,
        )

    def test_every_other_key_and_entry_is_kept_in_order(self, path):
        """Unknown keys, docker's own keys and other hosts' entries keep values and order."""
        path.parent.mkdir()
        before = {
            "zzz-unknown": {"nested": [1, 2.5, None, True, "é"]},
            "auths": {
                "quay.io": {"auth": "cXVheTpx", "email": "a@b.c"},
                HOST: {"auth": "b2xk"},
                "ghcr.io": {"identitytoken": "tok"},
            },
            "HttpHeaders": {"User-Agent": "Docker-Client/1"},
            "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
            "aaa": 1,
        }
        path.write_text(json.dumps(before, indent=4))

        output(path).apply(logins={HOST: login()}, remove={})

        after = json.loads(path.read_bytes())
        before["auths"][HOST] = {"auth": auth()}  # type: ignore[index]
        assert list(before.items()) == list(after.items())
        assert list(before["auths"].items()) == list(after["auths"].items())  # type: ignore[attr-defined]

    def test_old_entry_is_replaced_whole_in_place(self, path):
        """As docker login does: the host's old entry, extra keys and all, is replaced."""
        path.parent.mkdir()
        path.write_bytes(
            dump(
                {
                    "auths": {
                        HOST: {"auth": "b2xk", "email": "x@y.z", "identitytoken": "t"},
                        OTHER: {"auth": "b3RoZXI="},
                    }
                }
            )
        )

        output(path).apply(logins={HOST: login()}, remove={})

        expected = {"auths": {HOST: {"auth": auth()}, OTHER: {"auth": "b3RoZXI="}}}
        assert dump(expected) == path.read_bytes()

    def test_new_hosts_go_at_the_end_and_auths_is_created_last(self, path):
        """A missing auths object is added after the other keys; new hosts after old ones."""
        path.parent.mkdir()
        path.write_bytes(dump({"credHelpers": {}, "psFormat": "x"}))

        output(path).apply(logins={OTHER: login("b"), HOST: login("a")}, remove={})

        expected = {
            "credHelpers": {},
            "psFormat": "x",
            "auths": {OTHER: {"auth": auth("b")}, HOST: {"auth": auth("a")}},
        }
        assert dump(expected) == path.read_bytes()

    @pytest.mark.parametrize("content", [b"", b"  \n\t\r\n"])
    def test_empty_file_reads_as_an_empty_object(self, path, content):
        """A zero-byte or blank file is read as {}, as docker reads it."""
        path.parent.mkdir()
        path.write_bytes(content)

        output(path).apply(logins={HOST: login()}, remove={})

        assert dump({"auths": {HOST: {"auth": auth()}}}) == path.read_bytes()

    def test_null_auths_is_filled(self, path):
        """``"auths": null`` (docker reads it as empty) becomes the object, in its place."""
        path.parent.mkdir()
        path.write_bytes(b'{"auths": null, "x": 1}')

        output(path).apply(logins={HOST: login()}, remove={})

        assert dump({"auths": {HOST: {"auth": auth()}}, "x": 1}) == path.read_bytes()

    def test_text_is_kept_readable_and_lone_surrogates_survive(self, path):
        """Non-ASCII text stays UTF-8; a lone surrogate escape stays an escape."""
        path.parent.mkdir()
        path.write_bytes('{"psFormat": "\u00e9t\u00e9", "x": "\\ud800"}'.encode())

        output(path).apply(logins={HOST: login()}, remove={})

        document = json.loads(path.read_bytes())
        assert ("été", "\ud800", True) == (
            document["psFormat"],
            document["x"],
            b"\\ud800" in path.read_bytes(),
        )

    def test_one_write_per_apply_and_none_when_unchanged(self, path, writes):
        """Several hosts make one write; the same logins again make none, not even a rename."""
        logins = {HOST: login(), OTHER: login("other")}
        first = output(path).apply(logins=logins, remove={})
        inode = path.stat().st_ino

        second = output(path).apply(logins=logins, remove={})

        assert (True, False, 1, inode) == (
            first.written,
            second.written,
            len(writes),
            path.stat().st_ino,
        )

    def test_unchanged_entries_are_not_reformatted(self, path, writes):
        """A file in another layout is not rewritten when its entries are already right."""
        path.parent.mkdir()
        content = json.dumps({"auths": {HOST: {"auth": auth()}}}).encode()
        path.write_bytes(content)

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert (False, [], content) == (result.written, writes, path.read_bytes())

    def test_missing_file_with_nothing_to_do_is_not_created(self, path):
        """No logins and removals of nothing leave no file behind."""
        result = output(path).apply(logins={}, remove={HOST: "0" * 32})

        assert (False, False) == (result.written, path.exists())

    @pytest.mark.parametrize(
        ("content", "where"),
        [
            (
                b'{\n\t"auths": {\n\t\t"a": {"auth": "x"},\n\t}\n}\n',
                "line 4 column 2: Expecting property name enclosed in double quotes",
            ),
            (b"[1, 2]\n", "line 1 column 1: expected a JSON object, found an array"),
            (b'\n  "text"', "line 2 column 3: expected a JSON object, found a string"),
            (
                b'{\n  "x": 1,\n  "auths": [1]\n}',
                'line 3 column 12: "auths" must be an object, found an array',
            ),
            (
                b'{"auths": {"a": {}, "b":\n   "str"}}',
                'line 2 column 4: "auths" entry "b" must be an object, found a string',
            ),
            (
                b'{"auths": 1, "auths": {"a": 2}}',
                '"auths" is given more than once, and one is not an object: a number',
            ),
            (
                b'{"auths": {"a": {}},\n"auths": {"b": 2}}',
                'line 2 column 16: "auths" entry "b" must be an object, found a number',
            ),
            (
                b'{"auths": {"a": 2},\n"auths": {"b": {}}}',
                'line 1 column 17: "auths" entry "a" must be an object, found a number',
            ),
            (b'{"a": NaN}', "NaN is not valid JSON"),
            (b'{"a": 1e999}', "the number 1e999 is too large"),
            (b'{"a": 1' + b"0" * 5000 + b"}", "a number has too many digits"),
            (b"[" * 100_000, "nested too deeply"),
            (b'{"a":\n "\xff"}', "line 2: not UTF-8 text"),
            (
                b"\xef\xbb\xbf{}",
                "line 1 column 1: a byte order mark (BOM) starts the file, which docker cannot read",
            ),
        ],
    )
    def test_unparsable_file_is_left_untouched(self, path, writes, content, where):
        """A file that is not a JSON object of objects is reported and never overwritten."""
        path.parent.mkdir()
        path.write_bytes(content)

        with pytest.raises(OutputError) as caught:
            output(path).apply(logins={HOST: login()}, remove={})

        expected = f"cannot parse {path}: {where}; fix or remove it, ecrd left it untouched"
        assert (expected, content, []) == (str(caught.value), path.read_bytes(), writes)

    def test_parse_error_carries_no_secret(self, path):
        """The error for a broken file holds neither its passwords nor ours."""
        path.parent.mkdir()
        path.write_bytes(b'{"auths": {"other": {"auth": "SECRETVALUE"}}, broken')

        with pytest.raises(OutputError) as caught:
            output(path).apply(logins={HOST: login()}, remove={})

        text = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r} {caught.value.__context__!r}"
        assert (False, False) == ("SECRETVALUE" in text, PASSWORD[:20] in text)

    def test_removal_only_of_entries_ecrd_wrote(self, path):
        """An entry goes only when its auth is still the one ecrd wrote (same fingerprint)."""
        path.parent.mkdir()
        path.write_bytes(
            dump(
                {
                    "auths": {
                        HOST: {"auth": auth("ours")},
                        OTHER: {"auth": auth("relogged by a user")},
                        "quay.io": {"auth": "cXVheTpx"},
                    }
                }
            )
        )
        remove = {
            HOST: fingerprint(auth("ours")),
            OTHER: fingerprint(auth("ours before")),
            "absent.example": fingerprint(auth("ours")),
        }

        result = output(path).apply(logins={}, remove=remove)

        expected = {
            "auths": {OTHER: {"auth": auth("relogged by a user")}, "quay.io": {"auth": "cXVheTpx"}}
        }
        assert (dump(expected), (HOST,), True) == (
            path.read_bytes(),
            result.removed,
            result.written,
        )

    def test_removal_leaves_an_empty_auths(self, path):
        """Removing the last entry leaves "auths": {} as docker would."""
        path.parent.mkdir()
        path.write_bytes(dump({"auths": {HOST: {"auth": auth()}}, "x": 1}))

        output(path).apply(logins={}, remove={HOST: fingerprint(auth())})

        assert dump({"auths": {}, "x": 1}) == path.read_bytes()

    def test_host_in_logins_is_not_removed(self, path):
        """A host both set and in ``remove`` is set."""
        path.parent.mkdir()
        path.write_bytes(dump({"auths": {HOST: {"auth": auth("old")}}}))

        result = output(path).apply(logins={HOST: login()}, remove={HOST: fingerprint(auth("old"))})

        assert (dump({"auths": {HOST: {"auth": auth()}}}), ()) == (
            path.read_bytes(),
            result.removed,
        )

    def test_concurrent_docker_login_is_kept(self, path, monkeypatch):
        """An entry written between ecrd's read and rename survives, and ecrd's is there too."""
        path.parent.mkdir()
        path.write_bytes(dump({"auths": {"quay.io": {"auth": "cXVheTpx"}}}))
        real = _atomic.replace_file
        calls = []

        def docker_login_meanwhile(target, data, **kwargs):
            calls.append(data)
            if len(calls) == 1:
                document = json.loads(path.read_bytes())
                document["auths"]["ghcr.io"] = {"auth": "Z2hjcjp0"}
                path.write_bytes(dump(document))
            return real(target, data, **kwargs)

        monkeypatch.setattr(_atomic, "replace_file", docker_login_meanwhile)

        result = output(path).apply(logins={HOST: login()}, remove={})

        expected = {
            "auths": {
                "quay.io": {"auth": "cXVheTpx"},
                "ghcr.io": {"auth": "Z2hjcjp0"},
                HOST: {"auth": auth()},
            }
        }
        assert (dump(expected), 2, True) == (path.read_bytes(), len(calls), result.written)
        assert [] == [p.name for p in path.parent.iterdir() if p.name.startswith(".ecrd-")]

    def test_symlinked_config_is_written_at_its_target(self, path, tmp_path):
        """~/.docker/config.json linked into a dotfiles directory: the link stays."""
        target = tmp_path / "dotfiles" / "docker.json"
        target.parent.mkdir()
        target.write_bytes(b"{}")
        path.parent.mkdir()
        path.symlink_to("../dotfiles/docker.json")

        output(path).apply(logins={HOST: login()}, remove={})

        assert (True, dump({"auths": {HOST: {"auth": auth()}}})) == (
            path.is_symlink(),
            target.read_bytes(),
        )

    @pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
    def test_mode_and_owner_are_kept(self, path):
        """A file of another user with mode 0640 keeps both after the rewrite."""
        path.parent.mkdir()
        path.write_bytes(b"{}")
        path.chmod(0o640)
        os.chown(path, 4321, 4322)

        output(path).apply(logins={HOST: login()}, remove={})

        info = path.stat()
        assert (0o640, 4321, 4322) == (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    @pytest.mark.usefixtures("no_helpers")
    def test_creds_store_helper_that_is_missing(self, path):
        """With credsStore set to a missing helper, each managed host is named in a warning."""
        path.parent.mkdir()
        path.write_bytes(dump({"credsStore": "desktop"}))

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        expected = (
            f"{HOST}: ecrd could not store the credentials through docker-credential-desktop "
            f"(credsStore in {path}): docker-credential-desktop is not installed (not found on "
            "PATH); docker asks docker-credential-desktop for this host and will not find them "
            "(ecrd wrote them into auths instead, where podman and skopeo, which ignore "
            "credsStore, find them); "
            f'add "{HOST}": "ecrd" to credHelpers (ecrd then serves this host itself), '
            "or remove credsStore"
        )
        assert ((HOST, NOT_READ, expected), 2) == (
            (result.problems[0].host, result.problems[0].code, result.problems[0].message),
            len(result.problems),
        )
        assert {HOST: {"auth": auth()}, OTHER: {"auth": auth()}} == json.loads(path.read_bytes())[
            "auths"
        ]

    @pytest.mark.usefixtures("no_helpers")
    def test_cred_helpers_win_over_creds_store(self, path):
        """A host's credHelpers entry wins over auths and credsStore; an empty one means auths."""
        path.parent.mkdir()
        path.write_bytes(
            dump({"credsStore": "desktop", "credHelpers": {HOST: "ecr-login", OTHER: ""}})
        )

        result = output(path).apply(logins={HOST: login(), OTHER: login()}, remove={})

        expected = (
            f"{HOST}: ecrd could not store the credentials through docker-credential-ecr-login "
            f"(credHelpers in {path}): docker-credential-ecr-login is not installed (not found "
            "on PATH); docker, podman and skopeo ask docker-credential-ecr-login for this host "
            "and will not find them (ecrd wrote them into auths instead); "
            f'set credHelpers["{HOST}"] to "ecrd" (ecrd then serves this host itself), or to '
            '"" (clients then read auths)'
        )
        assert (Problem(host=HOST, path=str(path), code=NOT_READ, message=expected),) == (
            result.problems
        )

    @pytest.mark.usefixtures("no_helpers")
    def test_no_warning_without_helpers(self, path):
        """An empty credsStore and helpers for other hosts warn about nothing."""
        path.parent.mkdir()
        path.write_bytes(dump({"credsStore": "", "credHelpers": {"quay.io": "pass"}}))

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert () == result.problems

    def test_secret_stays_out_of_the_result(self, path):
        """The result's repr shows fingerprints, never the password or the auth value."""
        result = output(path).apply(logins={HOST: login()}, remove={})

        assert (False, False) == (PASSWORD[:20] in repr(result), auth()[:20] in repr(result))

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(data=st.data())
    @pytest.mark.usefixtures("no_helpers")
    def test_merge_keeps_every_other_key_and_entry(self, tmp_path, data):
        """Property: only managed auths entries change; all else keeps its value and order.

        No credential helper is on PATH: a host routed to one gets its auths entry too.
        """
        managed = data.draw(st.lists(hosts, max_size=3, unique=True), label="managed")
        before = data.draw(docker_configs(managed=managed), label="before")
        passwords = {h: data.draw(ecr_passwords(), label=f"password {h}") for h in managed}
        indent = data.draw(st.sampled_from([None, 2, "\t"]), label="indent")
        path = tmp_path / "prop" / "config.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(before, indent=indent))

        output(path).apply(logins={h: login(p) for h, p in passwords.items()}, remove={})

        after = json.loads(path.read_bytes()) if path.exists() else {}
        if not managed:
            assert before == after
            return
        old_auths = before.get("auths") or {}
        assert isinstance(old_auths, dict)
        wanted = {**old_auths, **{h: {"auth": auth(p)} for h, p in passwords.items()}}
        expected = {**before, "auths": wanted}
        assert list(expected.items()) == list(after.items())
        assert list(wanted.items()) == list(after["auths"].items())


class TestDuplicateKeys:
    """Keys given twice are read as docker reads them (Go fills one map), nothing dropped."""

    def test_two_auths_objects_merge_and_every_entry_is_kept_in_order(self, path, writes):
        """Both "auths" objects' entries survive a rewrite, in order, beside the other keys."""
        path.parent.mkdir()
        path.write_bytes(
            b'{"auths": {"quay.io": {"auth": "cXVheTox"}, "ghcr.io": {"auth": "Z2g6MQ=="}},\n'
            b' "psFormat": "table",\n'
            b' "auths": {"docker.io": {"auth": "ZGs6MQ==", "email": "a@b.c"}},\n'
            b' "detachKeys": "ctrl-e"}\n'
        )

        result = output(path).apply(logins={HOST: login()}, remove={})

        expected = {
            "auths": {
                "quay.io": {"auth": "cXVheTox"},
                "ghcr.io": {"auth": "Z2g6MQ=="},
                "docker.io": {"auth": "ZGs6MQ==", "email": "a@b.c"},
                HOST: {"auth": auth()},
            },
            "psFormat": "table",
            "detachKeys": "ctrl-e",
        }
        assert (True, [dump(expected)]) == (result.written, writes)
        assert list(expected["auths"]) == list(json.loads(path.read_bytes())["auths"])

    def test_a_host_given_in_both_keeps_its_last_entry_in_its_first_place(self, path):
        """A host in both objects keeps the later entry whole, as docker does."""
        path.parent.mkdir()
        path.write_bytes(
            b'{"auths": {"quay.io": {"auth": "b2xkOjE=", "email": "old@x"}, "a.io": {}},'
            b' "auths": {"quay.io": {"auth": "bmV3OjE="}}}'
        )

        output(path).apply(logins={HOST: login()}, remove={})

        assert {
            "quay.io": {"auth": "bmV3OjE="},
            "a.io": {},
            HOST: {"auth": auth()},
        } == json.loads(path.read_bytes())["auths"]

    def test_repeated_cred_helpers_merge_too(self, path, monkeypatch, tmp_path):
        """A credHelpers entry in the first of two objects still routes its host, as in docker."""
        monkeypatch.setenv("PATH", str(tmp_path / "no-helpers"))
        path.parent.mkdir()
        path.write_bytes(
            b'{"credHelpers": {"' + HOST.encode() + b'": "ecrd"},'
            b' "credHelpers": {"gcr.io": "gcloud"}, "auths": {}}'
        )

        result = output(path).apply(logins={HOST: login()}, remove={})

        assert ((HOST,), False) == (result.delegated, result.written)
