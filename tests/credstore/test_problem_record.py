"""One problem, seen by a writer, said the same way by `ecrd refresh`, `ecrd status` and the state."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from ecrd.outputs.shadows import Shadow
from ecrd.problems import NOT_READ
from ecrd.state import StateStore
from ecrd.status import shorten
from tests.credstore.fakes import shell_helper
from tests.process import ecrd

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from ecrd.emulator.server import Emulator

HOST = "111111111111.dkr.ecr.us-west-2.amazonaws.com"


def test_a_helper_that_cannot_store_reaches_refresh_status_and_the_state(
    emulator: Emulator, isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A credHelpers helper refusing to store and a podman login shadowing the host.

    The writer's NotRead problem (host, docker's file, its message) is `ecrd refresh`'s one
    error line, `ecrd status`'s error (text and JSON) and the state's ``last_error`` and
    ``error_code``; the shadow is a warning of the same host in all three. Both exit 1.
    """
    home = str(isolated_env)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shell_helper(bin_dir, "nostore", 'cat > /dev/null; echo "not implemented"; exit 1')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    docker = isolated_env / ".docker" / "config.json"
    docker.parent.mkdir()
    docker.write_text(json.dumps({"credHelpers": {HOST: "nostore"}}))
    docker.chmod(0o600)
    podman = tmp_path / "run" / "containers" / "auth.json"
    podman.parent.mkdir(parents=True)
    podman.write_text(json.dumps({"auths": {HOST: {"auth": "QVdTOm9sZA=="}}}))
    config = isolated_env / ".config" / "ecrd" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"aws: {{endpoint_url: {emulator.url}}}\n"
        f"outputs:\n  - {{type: docker, path: {docker}}}\n"
        f"registries:\n  - {HOST}\n"
    )

    refreshed = ecrd("refresh")
    table = ecrd("status")
    document = ecrd("status", "--output", "json")
    (state_dir,) = (p.parent for p in isolated_env.glob("**/state.json"))
    state = StateStore(state_dir).read()

    assert state is not None
    recorded = state.hosts[HOST]
    message = recorded.last_error or ""
    warning = Shadow(path=podman, host=HOST, reader="podman").message
    assert message.startswith(
        f"{HOST}: ecrd could not store the credentials through docker-credential-nostore "
        f"(credHelpers in {docker}): "
    )
    assert (NOT_READ, [str(docker)], [warning]) == (
        recorded.error_code,
        recorded.outputs,
        recorded.warnings,
    )
    assert (1, 1) == (refreshed.returncode, table.returncode)
    assert [f"Warning: {shorten(warning, home)}", f"Error: {shorten(message, home)}"] == [
        line for line in refreshed.stderr.splitlines() if line.startswith(("Warning:", "Error:"))
    ]
    assert [f"error: {shorten(message, home)}", f"warning: {shorten(warning, home)}"] == [
        line for line in table.stdout.splitlines() if line.startswith(("error:", "warning:"))
    ]
    (host,) = json.loads(document.stdout)["hosts"]
    assert (HOST, message, NOT_READ, [str(docker)], [warning]) == (
        host["host"],
        host["last_error"],
        host["error_code"],
        host["outputs"],
        host["warnings"],
    )
