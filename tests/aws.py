"""What the AWS side can do to ecrd on loopback, for the tests and for ``bench/churn.py``.

An endpoint that accepts connections and never answers, AWS profiles with static keys, a
profile whose ``credential_process`` never exits, and the AWS config file that holds them.
(ECR's throttling and errors come from the emulator: ``Fault(kind="throttle")``.)

``bench/churn.py`` imports this module too: the benchmark runs from a checkout with the
``.venv`` that ``scripts/test`` makes (``pip install -e .``), which puts the checkout's root,
and so ``tests``, on ``sys.path``, as it puts ``ecrd`` there. It uses only the standard
library, so the benchmark needs no test tool.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# A credential_process that never exits (botocore runs it with no timeout of its own).
HUNG_COMMAND = "sleep 3600"


def static_profiles(*names: str) -> str:
    """AWS config text: a profile per name, with static keys ``AKID<NAME>`` and ``s``."""
    return "".join(
        f"[profile {name}]\naws_access_key_id = AKID{name.upper()}\naws_secret_access_key = s\n"
        for name in names
    )


def hung_credential_process(name: str = "hung", *, command: str = HUNG_COMMAND) -> str:
    """AWS config text: profile ``name``, whose ``credential_process`` (``command``) never exits."""
    return f"[profile {name}]\ncredential_process = {command}\n"


def write_aws_config(home: Path, text: str) -> Path:
    """Write ~/.aws/config (the isolated environment points AWS_CONFIG_FILE there)."""
    path = home / ".aws" / "config"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


class SilentEndpoint:
    """A loopback port that accepts connections, reads nothing and never answers.

    It records when each connection arrived. It holds them open, at most ``keep`` of them
    (all by default): past that it closes the oldest, so that a long run holds a bounded
    number while the client must still close its own side.
    """

    def __init__(self, *, keep: int | None = None) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._keep = keep
        self._held: list[socket.socket] = []
        self._arrivals: list[float] = []
        self._arrived = threading.Condition()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._arrived:
                self._held.append(conn)
                self._arrivals.append(time.time())
                while self._keep is not None and len(self._held) > self._keep:
                    self._held.pop(0).close()
                self._arrived.notify_all()

    @property
    def connections(self) -> int:
        """How many connections it accepted."""
        with self._arrived:
            return len(self._arrivals)

    def wait_for(self, count: int, *, timeout: float) -> list[float]:
        """When each connection arrived (epoch seconds), once ``count`` came or at ``timeout``."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._arrivals) >= count, timeout)
            return list(self._arrivals)

    def __enter__(self) -> SilentEndpoint:  # noqa: PYI034 - not subclassed
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.close()
        with self._arrived:
            for conn in self._held:
                conn.close()
