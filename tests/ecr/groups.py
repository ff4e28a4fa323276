"""Registries, groups and a canned endpoint for the tests of the AWS call."""

from __future__ import annotations

import http.server
import threading
from typing import TYPE_CHECKING

from ecrd.config.model import Group, Registry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ecrd.ecr.source import EcrTokenSource


def registry(
    registry_id: str = "111111111111", region: str = "us-west-2", **kwargs: object
) -> Registry:
    host = f"{registry_id}.dkr.ecr.{region}.amazonaws.com"
    return Registry(registry_id=registry_id, region=region, hosts=(host,), **kwargs)  # type: ignore[arg-type]


def group_of(*registries: Registry) -> Group:
    return Group(key=registries[0].group_key, registries=registries)


def warm(source: EcrTokenSource, *groups: Group) -> None:
    """Build each group's client now, outside any attempt, as an earlier round would have.

    Building a client (botocore's models and endpoint rules, the session, its credentials)
    is CPU work that takes a good part of a second on a loaded machine. A test about what
    happens at the endpoint warms its groups first, so that its short attempt is spent on
    the call alone; the fetch then reuses the client, as every later round does.
    """
    for group in groups:
        source._sessions.client(group.key)


class CannedEndpoint:
    """A loopback HTTP server answering every POST with one canned status, type and body."""

    def __init__(self, *, status: int, content_type: str, body: bytes) -> None:
        canned = (status, content_type, body)
        self.calls = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                endpoint.calls += 1
                self.rfile.read(int(self.headers.get("content-length") or 0))
                code, kind, data = canned
                self.send_response(code)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> CannedEndpoint:  # noqa: PYI034 - not subclassed
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def attempt_threads() -> Iterator[threading.Thread]:
    """The attempt threads still running (given-up attempts end by themselves)."""
    return (t for t in threading.enumerate() if t.name.startswith("ecrd-attempt"))
