"""A payments API on FastAPI: the DB lives for the app's lifespan, every request runs under a deadline.

Run it with `python -m examples.fastapi_app` (engine, table, server and curl lines: `__main__.py`).
Configuration comes from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`,
`AIOTHEORY_TABLE_PREFIX`, `PAYMENTS_REQUEST_TIMEOUT`, `PAYMENTS_CURSOR_SECRET`), or from
`create_app(...)` arguments in tests. The stored `version` is the HTTP entity tag: a PATCH must send
`If-Match` (428 without), and a stale one is a 412.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from aiotheory import (
    DB,
    AiotheoryError,
    ConditionFailed,
    DeadlineExceeded,
    DecodeError,
    F,
    ItemNotFound,
    Throttled,
    ValidationError,
    deadline,
)

from .models import NewPayment, Payment, PaymentList, PaymentOut, StatusChange

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "DeadlineMiddleware",
    "PreconditionFailed",
    "PreconditionRequired",
    "Services",
    "app",
    "create_app",
    "etag_of",
    "router",
]

_log: Final = logging.getLogger("payments.api")

#: new status -> the statuses it may follow; DynamoDB checks it in the same write (no read-then-write race).
_FOLLOWS: Final[dict[str, tuple[str, ...]]] = {
    "paid": ("pending",),
    "failed": ("pending",),
    "refunded": ("paid",),
}


class PreconditionRequired(Exception):
    """A write came without `If-Match`: 428, so no client overwrites a change it never saw."""


class PreconditionFailed(Exception):
    """`If-Match` names a version the payment no longer has: 412, with the current payment."""

    def __init__(self, current: Payment) -> None:
        super().__init__("the payment changed since it was read")
        self.current = current


#: Our errors -> HTTP status. Looked up along the exception's MRO, so DecodeError (a ValidationError
#: raised by a stored item, a server fault) is not mistaken for a client's 422.
_STATUS: Final[dict[type[Exception], int]] = {
    PreconditionFailed: 412,
    PreconditionRequired: 428,
    ItemNotFound: 404,
    ConditionFailed: 409,
    ValidationError: 422,
    DecodeError: 500,
    Throttled: 503,
    DeadlineExceeded: 504,
}


@dataclass(frozen=True, slots=True)
class Services:
    """What the lifespan opens and every request uses."""

    db: DB
    new_id: Callable[[], str]
    cursor_secret: str | None


def etag_of(payment: Payment) -> str:
    """The entity tag of a stored payment: its version, quoted as RFC 9110 requires (a strong tag)."""
    return f'"{payment.version}"'


def _version_in(if_match: str | None) -> int:
    """The version an `If-Match` header names; one that names none can never match, so 412."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag of the payment you read")
    tag = if_match.strip()
    if len(tag) >= 3 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
        return int(tag[1:-1])
    return -1


def _new_id() -> str:
    return f"pay_{uuid.uuid4().hex}"


class DeadlineMiddleware:
    """Runs each HTTP request inside `aiotheory.deadline(seconds=...)`.

    A pure ASGI middleware rather than `@app.middleware("http")`: the endpoint runs in this task, so
    every DynamoDB call and retry sleep it makes sees the deadline, and a call cut short raises
    DeadlineExceeded, which the error handler turns into a 504.
    """

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with deadline(seconds=self.seconds):
            await self.app(scope, receive, send)


def _services(request: Request) -> Services:
    services: Services = request.state.services  # put there by the lifespan
    return services


ServicesDep = Annotated[Services, Depends(_services)]
PartnerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PaymentId = Annotated[str, Path(pattern=r"^pay_[0-9a-f]{32}$")]

router = APIRouter()


@router.post("/partners/{partner}/payments", status_code=201)
async def create_payment(
    partner: PartnerId, body: NewPayment, svc: ServicesDep, response: Response
) -> PaymentOut:
    payment = Payment(partner_id=partner, id=svc.new_id(), amount=body.amount, currency=body.currency)
    created = await svc.db.create(payment)
    response.headers["ETag"] = etag_of(created)
    response.headers["Location"] = f"/partners/{partner}/payments/{created.id}"
    return PaymentOut.of(created)


@router.get("/partners/{partner}/payments/{payment_id}")
async def get_payment(
    partner: PartnerId, payment_id: PaymentId, svc: ServicesDep, response: Response
) -> PaymentOut:
    payment = await svc.db.get(Payment, partner, payment_id)
    response.headers["ETag"] = etag_of(payment)
    return PaymentOut.of(payment)


@router.patch("/partners/{partner}/payments/{payment_id}")
async def change_status(
    partner: PartnerId,
    payment_id: PaymentId,
    body: StatusChange,
    svc: ServicesDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> PaymentOut:
    """Move the payment to `status` if it still has the version `If-Match` names and may move there."""
    expected = _version_in(if_match)
    current = await svc.db.get(Payment, partner, payment_id)
    if current.version != expected:
        raise PreconditionFailed(current)
    # The version guard sends the client's version, so a change racing in after the read above still
    # fails the write; the status rule rides in the same UpdateItem.
    try:
        updated = await svc.db.update(
            current,
            F(Payment.status).set(body.status),
            condition=F(Payment.status).is_in(_FOLLOWS[body.status]),
        )
    except ConditionFailed as exc:
        if isinstance(exc.old, Payment) and exc.old.version != expected:
            raise PreconditionFailed(exc.old) from exc
        raise
    response.headers["ETag"] = etag_of(updated)
    return PaymentOut.of(updated)


@router.get("/partners/{partner}/payments")
async def list_payments(
    partner: PartnerId,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> PaymentList:
    """One page of the partner's payments; `cursor` is the previous page's, as the client got it."""
    query = svc.db.query(Payment).key(F(Payment.partner_id) == partner)
    if svc.cursor_secret is not None:
        query = query.signed(svc.cursor_secret)
    page = await query.page(size=limit, cursor=cursor)
    return PaymentList(items=[PaymentOut.of(p) for p in page.items], cursor=page.cursor)


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return 500


async def _error_reply(request: Request, exc: Exception) -> JSONResponse:
    status = _status_of(exc)
    body: dict[str, object]
    headers: dict[str, str] = {}
    if isinstance(exc, PreconditionRequired):
        body = {"detail": str(exc)}
    elif isinstance(exc, PreconditionFailed):
        body = {
            "detail": str(exc),
            "current": PaymentOut.of(exc.current).model_dump(mode="json", by_alias=True),
        }
        headers["ETag"] = etag_of(exc.current)
    elif isinstance(exc, ItemNotFound):
        body = {"detail": "payment not found"}
    elif isinstance(exc, ConditionFailed):
        body = {"detail": "the payment's status does not allow this move"}
        if isinstance(exc.old, Payment):
            body["current"] = PaymentOut.of(exc.old).model_dump(mode="json", by_alias=True)
            headers["ETag"] = etag_of(exc.old)
    elif isinstance(exc, DeadlineExceeded) or status == 422:
        body = {"detail": str(exc)}
    else:
        # Server-side faults keep their details in the log, out of the reply.
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        body = {"detail": "internal error" if status == 500 else "busy, retry later"}
    return JSONResponse(body, status_code=status, headers=headers)


def _db_from_env() -> DB:
    # Region, endpoint and table prefix come from AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB and
    # AIOTHEORY_TABLE_PREFIX; building the DB does no I/O.
    return DB()


def create_app(
    *,
    db_factory: Callable[[], DB] = _db_from_env,
    request_timeout: float | None = None,
    cursor_secret: str | None = None,
    new_id: Callable[[], str] = _new_id,
    ensure_table: bool = False,
) -> FastAPI:
    """The API. `db_factory` runs in the lifespan, on the server's loop; the DB is closed at shutdown.

    Args:
        request_timeout: seconds each request may take; else `PAYMENTS_REQUEST_TIMEOUT`, else 2.
        cursor_secret: sign page cursors (HMAC) so clients cannot forge one; else
            `PAYMENTS_CURSOR_SECRET`, else unsigned.
        ensure_table: create the payments table at startup if it is missing (local runs, demos).
    """
    seconds = (
        request_timeout
        if request_timeout is not None
        else float(os.environ.get("PAYMENTS_REQUEST_TIMEOUT", "2"))
    )
    secret = cursor_secret if cursor_secret is not None else os.environ.get("PAYMENTS_CURSOR_SECRET")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Services]]:
        db = db_factory()
        try:
            db.register(Payment)  # compile the codec now, not in the first request
            if ensure_table:
                await db.ensure_table(Payment)
            yield {"services": Services(db=db, new_id=new_id, cursor_secret=secret)}
        finally:
            await db.close()

    api = FastAPI(title="payments", lifespan=lifespan)
    api.include_router(router)
    for error in _STATUS:
        api.add_exception_handler(error, _error_reply)
    # Other library errors (a transport failure, bad credentials) are server faults: a 500, logged.
    api.add_exception_handler(AiotheoryError, _error_reply)
    api.add_middleware(DeadlineMiddleware, seconds=seconds)
    return api


app = create_app()
