"""A stand-in Lambda handler for the packaging tests: it loads what a real one loads at init (pydantic
through a model in a sibling module, the DB facade) without depending on the payments example."""

from __future__ import annotations

from models import Payment

import aiotheory
from aiotheory import DB

__all__ = ["db", "handler"]

db = DB(region="us-east-1", credentials=("testing", "testing"))
db.register(Payment)


def handler(event: object, context: object) -> dict[str, str]:
    return {"version": aiotheory.__version__, "model": Payment(partner_id="p", id="i", amount=1).id}
