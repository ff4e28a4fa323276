"""What ecrd remembers between runs; the only code touching the state directory.

Each configuration file has its own state directory (``paths.config_state_dir``), with one
class per file in it:

- ``StateFile`` (``state.json``): per host its registry, expiry, last refresh, next
  scheduled refresh, last error, warnings and which outputs hold it; per output which
  entries this configuration wrote (so that it removes only its own, ``ownership``), with a
  fingerprint of each, never the secret itself. Its lock file (``lock``) serialises ecrd
  processes of one configuration (`ecrd refresh` next to a running daemon).
- ``TokensFile`` (``tokens.json``, ``0600``): the one file here that holds secrets, the
  current login of every managed host, for the consumers that read nothing else.
- ``DaemonLock`` (``daemon.lock``): held by the one `ecrd run` serving the configuration.

``StateStore`` gathers them and finds a configuration's directory. Nothing is ever locked
in an output's directory. A state or tokens file that cannot be read as what ecrd wrote
(empty, truncated, garbage, another shape) is moved aside as ``NAME.corrupt-<UTC time>``,
logged ``state_corrupt``, and read as no state: a power cut must never keep ecrd from
starting.
"""

from __future__ import annotations

from ecrd.state.state_file import STATE_FILE
from ecrd.state.store import StateStore
from ecrd.state.tokens_file import TOKENS_FILE
from ecrd.state_model import HostState, OwnedEntries, State

__all__ = [
    "STATE_FILE",
    "TOKENS_FILE",
    "HostState",
    "OwnedEntries",
    "State",
    "StateStore",
]
