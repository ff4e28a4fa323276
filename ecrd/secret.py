"""Secrets: a value that never shows itself, and the one credential record that carries it.

``Credentials`` travel from the token fetch through the round to every output and to the
tokens file that ``docker-credential-ecrd`` serves: one record, whatever holds it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from datetime import datetime

_MASK: Final = "Secret('***')"


class Secret:
    """A token or password; ``reveal()`` is the only way to the plain text."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the plain value: call only where it is written out."""
        return self._value

    def docker_auth(self, username: str) -> str:
        """Return ``base64(username:value)``, docker's ``auth`` field."""
        return base64.b64encode(f"{username}:{self._value}".encode()).decode("ascii")

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the plain value into places we do not control.
        msg = "a Secret cannot be pickled"
        raise TypeError(msg)


@dataclass(frozen=True)
class Credentials:
    """A registry login as ECR issued it: ``username`` (``AWS``), ``password``, expiry.

    ``registry_id`` and ``host`` are the account and the proxy endpoint's host that the
    answer named (no account for ECR Public).
    """

    username: str
    password: Secret
    expires_at: datetime
    registry_id: str | None = None
    host: str | None = None
