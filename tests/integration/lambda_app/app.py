"""A Lambda handler as a user would write it: DB and models at module scope, one async handler.

Configured by environment: APP_ENDPOINT (DynamoDB endpoint), APP_PREFIX (table prefix),
APP_BUFFER_MS (deadline buffer), APP_WARM=1 (open the connection during init).
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

from aiotheory import DB, PK, Model
from aiotheory.aws_lambda import lambda_handler, warm_up
from aiotheory.deadlines import remaining
from aiotheory.errors import DeadlineExceeded


class Note(Model, table="notes"):
    id: Annotated[str, PK]
    text: str = ""


db = DB(
    region="us-east-1",
    endpoint_url=os.environ["APP_ENDPOINT"],
    credentials=("testing", "testing"),
    table_prefix=os.environ.get("APP_PREFIX", ""),
    transport="lean",
)
db.register(Note)

INIT_LOOP: int | None = None
if os.environ.get("APP_WARM") == "1":
    warm_up(db, Note)
    from aiotheory.aws_lambda import runner

    INIT_LOOP = id(runner().get_loop())


def _facts(context: Any) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "loop": id(asyncio.get_running_loop()),
        "init_loop": INIT_LOOP,
        "deadline_left": remaining(),
        "context_left_ms": context.get_remaining_time_in_millis(),
    }


@lambda_handler(buffer_ms=int(os.environ.get("APP_BUFFER_MS", "1000")))
async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    facts = _facts(context)
    action = event["action"]
    if action == "info":
        return facts
    if action == "put":
        await db.put(Note(id=event["id"], text=event["text"]))
        return facts
    if action == "get":
        found = await db.find(Note, event["id"])
        return {**facts, "text": None if found is None else found.text}
    if action == "slow_get":
        try:
            await db.find(Note, event["id"])
        except DeadlineExceeded as exc:
            return {**facts, "deadline": exc.operation, "left_ms": context.get_remaining_time_in_millis()}
        return {**facts, "deadline": None}
    if action == "raise_get":
        await db.find(Note, event["id"])
        return facts
    raise ValueError(f"unknown action {action!r}")
