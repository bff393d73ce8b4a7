"""`python -m aiotheory.testing serve {moto|dynamodb-local} [--port N] [--persist DIR]` (see `_serve`)."""

from __future__ import annotations

import sys

from ._serve import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
