"""The only code that talks to AWS: sessions, STS, the GetAuthorizationToken call, one error table.

``sessions`` keeps one botocore session per identity and one client per group; ``deadline``
bounds one attempt; ``errors`` is the one table from botocore's exceptions to ``TokenError``;
``source`` makes the call and decodes it; ``masking`` hides secrets in AWS wire text.
The exports load botocore on first use, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecrd.ecr.source import EcrTokenSource, TokenSource, fetch_all

__all__ = ["EcrTokenSource", "TokenSource", "fetch_all"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from ecrd.ecr import source  # noqa: PLC0415 - botocore loads when first used

        return getattr(source, name)
    msg = f"module 'ecrd.ecr' has no attribute {name!r}"
    raise AttributeError(msg)
