"""The stored model and the API's request and reply bodies.

The stored `Payment` is never the HTTP body: the API names its fields in camelCase and decides what a
client may send, while the table keeps its own layout.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from aiotheory import PK, SK, CreatedAt, Model, UpdatedAt, Version

__all__ = ["NewPayment", "Payment", "PaymentList", "PaymentOut", "Status", "StatusChange"]

Status = Literal["pending", "paid", "failed", "refunded"]


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int  # minor units: 100.50 USD is 10050
    currency: str = "USD"
    status: str = "pending"
    created_at: Annotated[dt.datetime | None, CreatedAt] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class NewPayment(_Body):
    """POST body: the amount in minor units and an ISO 4217 currency code."""

    amount: int = Field(gt=0, le=10**15)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class StatusChange(_Body):
    """PATCH body: the new status. The version the client last read travels as `If-Match`."""

    status: Literal["paid", "failed", "refunded"]


class PaymentOut(_Body):
    partner_id: str
    id: str
    amount: int
    currency: str
    status: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    version: int

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            partner_id=payment.partner_id,
            id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            status=payment.status,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
            version=payment.version,
        )


class PaymentList(_Body):
    """One page; pass `cursor` back as `?cursor=` for the next one. No cursor: the last page."""

    items: list[PaymentOut]
    cursor: str | None
