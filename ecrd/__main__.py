"""``python -m ecrd``."""

from ecrd.cli import main

main()
