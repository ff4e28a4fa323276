"""Fakes shared by the test suites: a token source that records its calls, fixed times."""

from __future__ import annotations

from datetime import datetime, timezone

# A fixed expiry for credentials whose expiry a test does not look at.
EXPIRES_AT = datetime(2030, 1, 1, tzinfo=timezone.utc)
