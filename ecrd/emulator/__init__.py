"""A local ECR endpoint for tests and CI, and `ecrd demo` built on it.

`server` serves HTTP (`Emulator` in a thread, `serve` in the foreground), `protocol` reads
and writes the services' wire formats, `demo` runs the daemon against it.
"""

from ecrd.emulator.server import Call, Emulator, Fault, serve

__all__ = ["Call", "Emulator", "Fault", "serve"]
