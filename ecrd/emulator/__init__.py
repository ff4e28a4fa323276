"""A local ECR endpoint for tests, CI and `ecrd demo` (``ecrd.demo``), standing alone.

`server` serves HTTP (`Emulator` in a thread, `serve` in the foreground), `protocol` reads
and writes the services' wire formats. Nothing here imports the daemon or the token source:
the emulator answers any AWS client, ecrd's being only one of them.
"""

from ecrd.emulator.server import Call, Emulator, Fault, serve

__all__ = ["Call", "Emulator", "Fault", "serve"]
