"""Docker's ``config.json``: set ``auths`` entries, keep everything else as it was.

Where ``credHelpers[host]`` or ``credsStore`` sends docker to a credential helper for a
managed host, the credentials go to that helper instead (see ``ecrd.outputs.helpers``),
and ``auths`` gets no entry for the host; ``"ecrd"`` is ecrd's own helper, which serves
the state directory's tokens file, so nothing is stored for it.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from ecrd.outputs import _docker_json as docker_json
from ecrd.outputs._update import update_output
from ecrd.outputs.helpers import DEFAULT_TIMEOUT, PREFIX, CredentialHelper, HelperError
from ecrd.outputs.output import WriteResult, fingerprint
from ecrd.outputs.routing import DOCKER, ECRD_HELPER, Clients, Route, route
from ecrd.problems import MODE_KEPT, NOT_ERASED, NOT_READ, Code, Problem

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from ecrd.config.model import OutputSpec
    from ecrd.secret import Credentials


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Merge:
    data: bytes | None  # None: nothing to change
    removed: tuple[str, ...]


class DockerOutput:
    """A docker-format ``config.json`` (also helm's registry config; podman's: ``ContainersOutput``).

    Each managed host gets ``auths[host] = {"auth": base64("AWS:" + password)}``, replacing
    the host's old entry whole, as ``docker login`` does. Other keys and entries keep their
    values and order; the file is written as docker writes it (tab indents).

    A host that docker looks up in a credential helper (``credHelpers[host]``, else
    ``credsStore``) is stored through that helper instead, once per new token; when the
    helper cannot store, the host gets its ``auths`` entry and a ``NotRead`` problem says what
    to change.
    What ecrd stored is recorded, in ``fingerprints``, as ``docker-credential-NAME:DIGEST``;
    it is erased from the helper when the host leaves, only if the helper still holds it.

    ``clients`` are the clients that read the file, whose rule (``ecrd.outputs.routing``)
    says where each host goes.
    """

    clients: ClassVar[Clients] = DOCKER

    def __init__(self, spec: OutputSpec, *, helper_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.spec = spec
        self.helper_timeout = helper_timeout

    def apply(self, *, logins: Mapping[str, Credentials], remove: Mapping[str, str]) -> WriteResult:
        """Set ``logins`` and drop the entries in ``remove``, in one atomic write at most.

        ``remove`` may also name hosts of ``logins``: what ecrd wrote for them before, which
        tells whether a helper already holds the token, and what to clean up when a host
        moves between ``auths`` and a helper.

        Raises:
            OutputError: the file could not be read, parsed or written; it is unchanged.
        """
        path = self.spec.path
        plan: _Plan | None = None
        merged = _Merge(data=None, removed=())

        def render(before: bytes | None) -> bytes | None:
            # The plan (and its helper calls) follows the file as first read; a
            # concurrent writer's version, read again, is only merged.
            nonlocal plan, merged
            document = docker_json.parse(before, path)
            if plan is None:
                plan = _Plan(path, document, _Helpers(self.helper_timeout), self.clients)
                for host, login in logins.items():
                    plan.set(host, login, remove.get(host))
                for host, value in remove.items():
                    if host not in logins:
                        plan.remove(host, value)
            merged = _merge(document, plan.auths, plan.drop)
            return merged.data

        written = update_output(path, render=render)
        if plan is None:  # never rendered: update_output failed before, and raised
            raise AssertionError(path)
        removed = (*merged.removed, *plan.erased) if written else tuple(plan.erased)
        problems = list(plan.problems)
        exposed = _readable_by_others(path) if plan.auths else None
        if exposed is not None:
            message = (
                f"{path} is readable by other users (mode {exposed:04o}) and holds registry "
                f"passwords; ecrd kept its mode: run chmod go-rwx {path} unless others must read it"
            )
            problems.append(Problem(host=None, path=str(path), code=MODE_KEPT, message=message))
        return WriteResult(
            path=path,
            written=written,
            fingerprints=plan.owned,
            removed=tuple(dict.fromkeys(removed)),
            retained=plan.retained,
            stored=tuple(plan.stored),
            delegated=tuple(plan.delegated),
            problems=tuple(problems),
        )


def _readable_by_others(path: Path) -> int | None:
    """The file's mode when group or others may read it, else ``None``."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o044 else None


class _Plan:
    """What one apply does: helper calls made at once, ``auths`` entries to set and drop.

    Routes follow the file as read before the write; a ``credsStore`` edited in the middle
    of a refresh is followed at the next one.
    """

    def __init__(
        self, path: Path, document: Mapping[str, object], helpers: _Helpers, clients: Clients
    ) -> None:
        self.path = path
        self.document = document
        self.helpers = helpers
        self.clients = clients
        self.auths: dict[str, str] = {}  # host -> auth value to set
        self.drop: dict[str, str] = {}  # host -> digest of ecrd's old entry, to remove
        self.owned: dict[str, str] = {}
        self.retained: dict[str, str] = {}
        self.erased: list[str] = []
        self.stored: list[str] = []
        self.delegated: list[str] = []
        self.problems: list[Problem] = []

    def set(self, host: str, login: Credentials, previous: str | None) -> None:
        """Put ``login`` where docker looks for ``host``; clean up what ecrd wrote before."""
        auth = login.password.docker_auth(login.username)
        where = route(self.document, host, clients=self.clients)
        if where.helper == ECRD_HELPER:
            self.delegated.append(host)
        elif where.helper is not None:
            try:
                self._store(where.helper, host, login, previous)
            except HelperError as exc:
                self._warn(host, NOT_READ, _store_failed(host, where, self.path, exc, self.clients))
            else:
                self.owned[host] = _helper_entry(where.helper, fingerprint(auth))
        if host not in self.owned and where.helper != ECRD_HELPER:
            self.auths[host] = auth
            self.owned[host] = fingerprint(auth)
        if previous is not None:
            self._clean_up(host, where, previous)

    def remove(self, host: str, value: str) -> None:
        """Remove ecrd's entry for ``host``, which left the configuration."""
        name, digest = _split(value)
        if name is None:
            self.drop[host] = digest
            return
        try:
            self._erase_if_ours(name, host, digest)
        except HelperError as exc:
            self.retained[host] = value
            self._warn(
                host,
                NOT_ERASED,
                f"{host} left ecrd's configuration, but ecrd could not erase the credentials "
                f"it stored for it through {PREFIX}{name}: {exc}; ecrd tries again at the next "
                "refresh",
            )

    def _clean_up(self, host: str, where: Route, previous: str) -> None:
        """Remove what ecrd wrote for ``host`` where docker no longer looks for it."""
        old_helper, old_digest = _split(previous)
        if old_helper is None:
            if host not in self.auths:
                self.drop[host] = old_digest  # ecrd's auths entry, if nobody replaced it
        elif old_helper != where.helper:
            try:
                self._erase_if_ours(old_helper, host, old_digest)
            except HelperError as exc:
                self._warn(host, NOT_ERASED, _leftover(host, old_helper, exc))

    def _store(self, name: str, host: str, login: Credentials, previous: str | None) -> None:
        """Store ``login`` through helper ``name``, unless it already holds that token.

        Raises:
            HelperError: the helper could not store it.
        """
        digest = fingerprint(login.password.docker_auth(login.username))
        if previous == _helper_entry(name, digest) and self.helpers.holds(name, host) is not False:
            return
        self.helpers.call(name, lambda helper: helper.store(server_url=host, login=login))
        self.stored.append(host)

    def _erase_if_ours(self, name: str, host: str, digest: str) -> None:
        """Erase ``host`` from helper ``name`` if what it holds is what ecrd stored there.

        Raises:
            HelperError: the helper could not be asked, or could not erase.
        """
        if self.helpers.holds(name, host) is False:
            return
        held = self.helpers.call(name, lambda helper: helper.get(host))
        if held is None or fingerprint(held[1].docker_auth(held[0])) != digest:
            return  # gone, or somebody else's now (``docker login``): theirs to keep
        self.helpers.call(name, lambda helper: helper.erase(host))
        self.erased.append(host)

    def _warn(self, host: str, code: Code, message: str) -> None:
        self.problems.append(Problem(host=host, path=str(self.path), code=code, message=message))


class _Helpers:
    """The credential helpers of one apply: each listed once, and given up once broken."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._broken: dict[str, HelperError] = {}
        self._lists: dict[str, dict[str, str] | None] = {}

    def call(self, name: str, action: Callable[[CredentialHelper], _T]) -> _T:
        """Run ``action`` on helper ``name``, unless it already proved broken.

        Raises:
            HelperError: from ``action``, or the error that broke the helper before.
        """
        if name in self._broken:
            raise self._broken[name]
        try:
            return action(CredentialHelper(name, timeout=self._timeout))
        except HelperError as exc:
            if exc.broken:
                self._broken[name] = exc
            raise

    def holds(self, name: str, host: str) -> bool | None:
        """Whether helper ``name`` lists ``host``; ``None`` when its list cannot tell.

        Raises:
            HelperError: the helper is missing or hung.
        """
        if name not in self._lists:
            try:
                self._lists[name] = self.call(name, CredentialHelper.list)
            except HelperError as exc:
                if exc.broken:
                    raise
                self._lists[name] = None  # a list it cannot give is no reason to fail
        listing = self._lists[name]
        return None if listing is None else host in listing


def _helper_entry(name: str, digest: str) -> str:
    """What ecrd records for an entry it stored through helper ``name``."""
    return f"{PREFIX}{name}:{digest}"


def _split(value: str) -> tuple[str | None, str]:
    """The helper (``None``: auths) and the digest of a recorded entry."""
    if value.startswith(PREFIX):
        name, _, digest = value[len(PREFIX) :].rpartition(":")
        return name, digest
    return None, value


def _store_failed(host: str, where: Route, path: Path, exc: HelperError, clients: Clients) -> str:
    program = f"{PREFIX}{where.helper}"
    problem = f"{host}: ecrd could not store the credentials through {program} ({where.source} in {path}): {exc}"
    if where.source == "credHelpers":
        # Nobody reads the auths entry for now: every client of the file asks the helper.
        return (
            f"{problem}; {clients.helper_readers} ask {program} for this host and will not find "
            f'them (ecrd wrote them into auths instead); set credHelpers["{host}"] to "ecrd" '
            '(ecrd then serves this host itself), or to "" (clients then read auths)'
        )
    return (
        f"{problem}; {clients.name} asks {program} for this host and will not find them (ecrd "
        "wrote them into auths instead, where podman and skopeo, which ignore credsStore, find "
        f'them); add "{host}": "ecrd" to credHelpers (ecrd then serves this host itself), '
        "or remove credsStore"
    )


def _leftover(host: str, name: str, exc: HelperError) -> str:
    program = f"{PREFIX}{name}"
    return (
        f"{host}: docker no longer asks {program} for this host, but ecrd could not erase "
        f"the credentials it stored there: {exc}; erase them with `echo {host} | {program} erase`"
    )


def _merge(
    document: dict[str, object], auths: Mapping[str, str], remove: Mapping[str, str]
) -> _Merge:
    """Apply ``auths`` and ``remove`` to ``document`` (in place); render it if it changed."""
    entries = document.get("auths")
    if not isinstance(entries, dict):  # absent or null
        if not auths:
            return _Merge(data=None, removed=())
        entries = {}
        document["auths"] = entries
    changed = False
    for host, auth in auths.items():
        entry = {"auth": auth}
        if entries.get(host) != entry:
            entries[host] = entry
            changed = True
    removed: list[str] = []
    for host, digest in remove.items():
        if host in auths:
            continue
        old = entries.get(host)
        value = old.get("auth") if isinstance(old, dict) else None
        if isinstance(value, str) and fingerprint(value) == digest:
            del entries[host]
            removed.append(host)
    if not changed and not removed:
        return _Merge(data=None, removed=())
    return _Merge(data=docker_json.render(document), removed=tuple(removed))
