"""Files ecrd writes credentials into: the Output seam, the writers and their builder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.netrc import NetrcOutput
from ecrd.outputs.output import Output, WriteResult, fingerprint

if TYPE_CHECKING:
    from collections.abc import Collection

    from ecrd.config.model import OutputSpec

__all__ = ["DockerOutput", "NetrcOutput", "Output", "WriteResult", "build_outputs", "fingerprint"]


def build_outputs(specs: Collection[OutputSpec]) -> tuple[Output, ...]:
    """One ``Output`` per spec, in order."""
    outputs: list[Output] = []
    for spec in specs:
        if spec.type == "docker":
            outputs.append(DockerOutput(spec))
        else:
            outputs.append(NetrcOutput(spec))
    return tuple(outputs)
