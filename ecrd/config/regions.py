"""The AWS regions where the installed botocore knows ECR, read without importing botocore.

ecrd calls ECR in a region botocore knows, or at an ``endpoint_url``. This is the one
region check: ``check-config`` says so before ``ecrd refresh`` would fail on it, and the
token source refuses such a group before any call. The regions are read from botocore's
``endpoints.json``, only when a region needs checking, decoding only the blocks needed,
which is far cheaper than importing botocore and building a session.
``tests/config/test_sections.py`` checks that they are exactly those botocore's session
lists for ECR, so that an upgrade of botocore that moves or changes its data fails loudly.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
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
    """Every region with an ECR endpoint in the installed botocore; empty when unreadable.

    As botocore's ``get_available_regions("ecr")``: the endpoints of the ``api.ecr`` service
    that are regions of their partition (not ``fips-*`` or ``dkr-*`` aliases).
    """
    spec = importlib.util.find_spec("botocore")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = Path(next(iter(spec.submodule_search_locations)), "data", "endpoints.json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return frozenset()
    try:
        return _ecr_regions(text)
    except (ValueError, KeyError, TypeError, AttributeError):
        return frozenset()


_BLOCK = re.compile(r'"(regions|api\.ecr)"\s*:\s*')


def _ecr_regions(text: str) -> frozenset[str]:
    """The regions of ``endpoints.json``'s ``text`` where ECR has an endpoint.

    Only the blocks needed are decoded (the partitions' ``regions`` and each ``api.ecr``
    service, which follows its partition's ``regions``), not the whole file.
    """
    decoder = json.JSONDecoder()
    regions: dict[str, object] = {}
    found: set[str] = set()
    for match in _BLOCK.finditer(text):
        block, _ = decoder.raw_decode(text, match.end())
        if match[1] == "regions":
            regions = block
        else:
            found.update(name for name in block["endpoints"] if name in regions)
    return frozenset(found)
