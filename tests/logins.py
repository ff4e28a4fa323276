"""The logins the output tests write, and docker-format files written and read as docker does.

Two hosts in two regions, a password longer than a netrc line reader's buffer or a
credential helper's small read, docker's ``auth`` value for it.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from ecrd.secret import Credentials, Secret
from tests.fakes import EXPIRES_AT

if TYPE_CHECKING:
    from pathlib import Path

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
OTHER = "210987654321.dkr.ecr.eu-central-1.amazonaws.com"
PASSWORD = "eyJwYXlsb2FkIjoiZmFrZSJ9" * 100


def auth(password: str = PASSWORD) -> str:
    """Docker's ``auth`` value: base64 of ``AWS:password``."""
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def login(password: str = PASSWORD) -> Credentials:
    """ECR's credentials for a host, with ``password``."""
    return Credentials(username="AWS", password=Secret(password), expires_at=EXPIRES_AT)


def write_json(path: Path, document: object) -> None:
    """Write a docker-format file (its directory too), 0600 as docker and podman leave it.

    A file others can read is warned about.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent="\t"))
    path.chmod(0o600)


def read_json(path: Path) -> dict[str, object]:
    """A docker-format file's document."""
    document: dict[str, object] = json.loads(path.read_text())
    return document
