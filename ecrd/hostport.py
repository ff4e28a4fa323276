"""A registry host as written, ``NAME[:PORT]``: its name and its port.

No import but ``__future__``: ``docker-credential-ecrd`` and the
kubelet provider may import this module, and they must start as fast as a bare ``python3``.
"""

from __future__ import annotations

_MAX_PORT = 65535


def split_port(host: str) -> tuple[str, int | None]:
    """Split ``NAME[:PORT]`` into the name as written and the port.

    An IPv6 literal keeps its brackets (``[::1]:5000`` gives ``("[::1]", 5000)``), so that
    a check can tell it from a name; ``host_name`` drops them.

    Raises:
        ValueError: the port is not a number from 1 to 65535.
    """
    if host.startswith("["):
        end = host.find("]")
        name, rest = (host[: end + 1], host[end + 1 :]) if end >= 0 else (host, "")
        if not rest:
            return name, None
        if not rest.startswith(":"):
            msg = f"expected ':PORT' after ']', got {rest!r}"
            raise ValueError(msg)
        return name, _port(rest[1:])
    if host.count(":") == 1:
        name, port = host.split(":")
        return name, _port(port)
    return host, None


def host_name(host: str) -> str:
    """The host's name without its port, as clients look a host up where ports have no place.

    ``registry:5000`` gives ``registry``; ``[::1]:5000`` and ``[::1]`` give ``::1``, as curl
    matches a netrc ``machine`` and as Python's ``urllib`` (hence requests) names the host.
    A malformed port is left as it is.
    """
    try:
        name, _ = split_port(host)
    except ValueError:
        return host
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


def _port(text: str) -> int:
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(_MAX_PORT))
    if not digits or not 1 <= int(text) <= _MAX_PORT:
        msg = f"expected a port from 1 to {_MAX_PORT}, got {text!r}"
        raise ValueError(msg)
    return int(text)


def url_host(server_url: str) -> str:
    """The host of a server URL, as docker reduces one: no scheme, no path, the port kept.

    ``https://HOST``, ``http://HOST/v2/`` and ``HOST`` all give ``HOST``.
    """
    url = server_url.strip()
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            url = url[len(scheme) :]
            break
    return url.split("/", 1)[0]
