"""The AWS regions where the installed botocore knows ECR, read without importing botocore.

ecrd calls ECR in a region botocore knows, or at an ``endpoint_url``; ``check-config``
says so before ``ecrd refresh`` fails on it. The regions are read from botocore's
``endpoints.json`` (about 9 ms), only when a region needs checking: importing botocore
and building a session would cost about ten times that. ``tests/config/test_sections.py``
checks that they are exactly those botocore's session lists for ECR, so that an upgrade
of botocore that moves or changes its data fails loudly.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
from pathlib import Path


def check_region(region: str) -> str | None:
    """Why botocore cannot reach ECR in ``region`` with no ``endpoint_url``, or ``None``.

    ``None`` as well when botocore's region list cannot be read: the call will tell.
    """
    known = known_regions()
    if not known or region in known:
        return None
    close = difflib.get_close_matches(region, sorted(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"unknown region '{region}'{hint}; if it is a new AWS region, upgrade botocore or"
        " set endpoint_url"
    )


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region with an ECR endpoint in the installed botocore; empty when unreadable."""
    spec = importlib.util.find_spec("botocore")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = Path(next(iter(spec.submodule_search_locations)), "data", "endpoints.json")
    try:
        data = json.loads(path.read_bytes())
        # As botocore's get_available_regions("ecr"): the ECR endpoints that are regions.
        return frozenset(
            region
            for partition in data["partitions"]
            for region in partition["services"].get("api.ecr", {}).get("endpoints", {})
            if region in partition["regions"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()
