"""`python -m aiotheory ...`: hands the command line to `aiotheory._cli` (see `python -m aiotheory -h`)."""

from __future__ import annotations

import sys

from ._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
