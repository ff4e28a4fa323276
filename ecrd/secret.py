"""A value that never shows itself in a repr, a log line or a traceback."""

from __future__ import annotations

import base64
from typing import Final

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
