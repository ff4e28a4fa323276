"""ecrd keeps Amazon ECR registry credentials fresh on a machine."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up lazily: importlib.metadata costs about 50 ms, which docker-credential-ecrd,
    # run on every image pull, does not need.
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        return version("ecrd")
    msg = f"module 'ecrd' has no attribute {name!r}"
    raise AttributeError(msg)
