"""Secrets hidden in AWS wire text: request and response bodies, headers, signing logs.

botocore's debug log shows every body and header. ``mask`` replaces what would let someone
act as the identity or log in to a registry: the ECR ``authorizationToken`` and passwords,
secret access keys and session tokens (STS XML, SSO and ``credential_process`` JSON, the
``X-Amz-Security-Token`` header), SSO access and refresh tokens and client secrets, bearer
tokens and request signatures. Standard library only: logging set-ups may use it.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "***"
# Names whose values are secrets, as JSON keys, XML elements, headers or settings.
_NAMES: Final = (
    r"authorizationToken|password|secretAccessKey|sessionToken|accessToken|refreshToken"
    r"|clientSecret|idToken|token|aws_secret_access_key|aws_session_token"
    r"|x-amz-security-token|x-amz-sso[_-]bearer[_-]token|auth"
)
_PATTERNS: Final = (
    # "name": "value" and 'name': b'value' (JSON bodies, Python reprs of dicts and bytes)
    re.compile(
        rf"""(["'](?:{_NAMES})["']\s*[:=]\s*b?(["']))((?:\\.|(?!\2).)*)(?=\2)""",
        re.IGNORECASE,
    ),
    # <Name>value</Name> (STS and other XML answers)
    re.compile(rf"(<(?:{_NAMES})>)([^<]*)(?=</)", re.IGNORECASE),
    # name:value and name=value, unquoted (canonical requests, header lines, settings)
    re.compile(rf"""((?<![\w-])(?:{_NAMES})\s*[:=]\s*)(?!["'\s])([^\s,;'"&<}}]+)""", re.IGNORECASE),
    # the SigV4 signature, in the Authorization header and in botocore's signing log
    re.compile(r"(Signature[=:]\s*)([0-9a-f]{16,})", re.IGNORECASE),
    # bearer tokens (SSO's GetRoleCredentials, any Authorization: Bearer)
    re.compile(r"(Bearer\s+)([^\s'\",]+)", re.IGNORECASE),
)
# A safety net: ECR tokens and session tokens are base64 runs of hundreds of characters.
_LONG_BASE64: Final = re.compile(r"[A-Za-z0-9+/_-]{200,}={0,2}")


def mask(text: str) -> str:
    """Return ``text`` with every secret value replaced by ``***``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return _LONG_BASE64.sub(MASK, text)
