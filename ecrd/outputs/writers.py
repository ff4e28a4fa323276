"""The output types: one row per type, naming the class that writes it.

The configuration accepts exactly the types of ``ecrd.config.model.OutputType``; a test
checks that each has its row here. A new type is its name there, one row here, and one
writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ecrd.outputs.containers import ContainersOutput
from ecrd.outputs.docker import DockerOutput
from ecrd.outputs.netrc import NetrcOutput

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from ecrd.config.model import OutputSpec, OutputType
    from ecrd.outputs.output import Output

WRITERS: Final[Mapping[OutputType, Callable[[OutputSpec], Output]]] = {
    "docker": DockerOutput,
    "netrc": NetrcOutput,
    "containers": ContainersOutput,
}


def build_outputs(specs: Collection[OutputSpec]) -> tuple[Output, ...]:
    """One ``Output`` per spec, in order, each of its type's writer."""
    return tuple(WRITERS[spec.type](spec) for spec in specs)
