"""`ecrd run` with a seam the shipped command has not: the clock check's interval.

``python -m tests.daemon.launch CONFIG SECONDS`` runs the daemon as ``ecrd run -c CONFIG``
does (JSON logs at debug level, the configuration's locks and control socket), checking the wall clock every
SECONDS; for the tests that move a real process's clock with libfaketime.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from ecrd.daemon.control import serve_configuration
from ecrd.daemon.lifecycle import Daemon
from ecrd.ecr.source import EcrTokenSource
from ecrd.logs import configure_logging
from ecrd.state import StateStore


def main() -> None:
    """Run the daemon until SIGTERM."""
    config, seconds = Path(sys.argv[1]), float(sys.argv[2])
    configure_logging(level="debug", log_format="json")
    store = StateStore.for_config(config)
    with serve_configuration(store=store, config_path=config) as control:
        daemon = Daemon(
            config_path=config,
            source=EcrTokenSource(),
            store=store,
            clock_check=timedelta(seconds=seconds),
            control=control,
        )
        sys.exit(daemon.run())


if __name__ == "__main__":
    main()
