"""clore-ai 0.1.1 had its CLI here; this SDK's CLI is the ``clore-cli`` package.

Importing this module raises ImportError saying so.
"""

from __future__ import annotations

raise ImportError(
    "clore_ai.cli (clore-ai 0.1.1's CLI) is not part of this SDK: install the clore-cli package "
    "and run `clore` (python -m clore_cli); scripts import clore_cli"
)
