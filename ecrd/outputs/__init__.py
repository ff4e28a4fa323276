"""Files ecrd writes credentials into: the Output seam here, the writers in their modules.

``writers`` holds the table of output types and their writers, and ``build_outputs``;
``routing`` the rule of where docker-format clients look for a host's credentials. This
module imports neither writer, so that importing ``ecrd.outputs.routing`` stays light.
"""

from __future__ import annotations

from ecrd.outputs.output import Output, WriteResult, fingerprint

__all__ = ["Output", "WriteResult", "fingerprint"]
