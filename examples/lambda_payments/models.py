"""The payments Lambda's one model: a payment in a partner's own account (see template.yaml's table).

Imported by handler.py as a top-level module (Lambda puts the function's directory on `sys.path`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiotheory import PK, SK, TTL, CreatedAt, Model, UpdatedAt, Version

__all__ = ["Payment"]


class Payment(Model, table="payments"):
    """One payment. Keys match template.yaml's table: `partner_id` (HASH), `id` (RANGE).

    Every partner's table lives in the partner's own account; the partner id is still the hash key so
    a table shared by several partners (or a migration into one) keeps them apart by key as well.
    """

    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int  # minor units of `currency` (100.50 USD is 10050): integers never round
    currency: str
    status: str = "pending"
    created_at: Annotated[dt.datetime | None, CreatedAt] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0
    # Unset (not written) for live payments; set it to let DynamoDB expire a record (template.yaml's TTL).
    expires_at: Annotated[dt.datetime | None, TTL] = None
