"""The payments Lambda: createPayment / getPayment for partners whose data lives in their own AWS accounts.

Request `{"partnerId": "partner1", "action": "createPayment", "data": {"amount": 100.50, "currency": "USD"}}`,
reply `{"success": true, "data": {...}}` or `{"success": false, "error": "..."}` and never a stack trace.
A createPayment with a client-chosen `"idempotencyKey"` is created once: a repeat gets the first reply.
Configured by environment only (README.md); the module builds its DB and Accounts at import, with no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final

from models import Payment

from aiotheory import (
    DB,
    AccountNotFound,
    Accounts,
    DeadlineExceeded,
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyStore,
    ItemNotFound,
    lambda_handler,
)

__all__ = [
    "BadRequest",
    "CreatePayment",
    "GetPayment",
    "MAX_MINOR_UNITS",
    "Payments",
    "Reply",
    "accounts",
    "db",
    "format_minor_units",
    "handler",
    "idempotency",
    "idempotency_key",
    "minor_digits",
    "new_payment_id",
    "parse_request",
    "payment_data",
    "payments",
    "to_minor_units",
]

Reply = dict[str, object]

#: Amounts are stored and returned as integers of minor units; below 10**15 they stay exact in every
#: JSON parser, including JavaScript's (doubles are exact up to 2**53, about 9.007e15).
MAX_MINOR_UNITS: Final = 10**15 - 1

# ISO 4217 exponents that are not 2; any other well-formed code has cents.
_MINOR_DIGITS: Final[Mapping[str, int]] = {
    **dict.fromkeys(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"], 0),
    **dict.fromkeys(["RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_ACTIONS: Final = ("createPayment", "getPayment")
_CREATE_FIELDS: Final = frozenset({"amount", "currency"})
_GET_FIELDS: Final = frozenset({"paymentId"})
_PARTNER_ID: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_PAYMENT_ID: Final = re.compile(r"pay_[A-Za-z0-9_-]{1,60}")
# A client's idempotency key: a UUID, an order number, anything printable up to 128 characters.
_IDEMPOTENCY_KEY: Final = re.compile(r"[\x21-\x7e]{1,128}")
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
# What a decimal string may look like: no exponent, no spaces, no "+"; the sign is judged later.
_DECIMAL_TEXT: Final = re.compile(r"-?[0-9]{1,32}(?:\.[0-9]{1,32})?")
_SHOWN_MAX: Final = 40
#: Unexpected field names echoed in an error; the rest are only counted, so 10,000 of them stay one line.
_NAMES_SHOWN: Final = 3
_log: Final = logging.getLogger("payments")


class BadRequest(ValueError):
    """The request is malformed; its message is the reply's `error`, written for the API's caller."""


@dataclass(frozen=True, slots=True)
class CreatePayment:
    partner_id: str
    amount: int  # minor units
    currency: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class GetPayment:
    partner_id: str
    payment_id: str


# ------------------------------------------------------------------------------------------- amounts


def minor_digits(currency: str) -> int:
    """Decimal places of `currency`'s minor unit (ISO 4217): 2 unless the code is known otherwise."""
    return _MINOR_DIGITS.get(currency, 2)


def to_minor_units(amount: object, currency: str) -> int:
    """`amount` (a JSON number or a decimal string) as an exact integer of `currency`'s minor units.

    A float is read through its shortest decimal text (`repr`: 100.5 -> "100.5", 19.99 -> "19.99"),
    never multiplied as a float (19.99 * 100 == 1998.9999999999998). A value that needs more places
    than the currency has is refused rather than rounded: a payment is never silently changed.

    Raises:
        BadRequest: not a number, not finite, not above 0, too large, or too many decimal places.
    """
    places = minor_digits(currency)
    if isinstance(amount, bool) or not isinstance(amount, int | float | str):
        raise BadRequest("data.amount must be a number such as 100.50")
    if isinstance(amount, float):
        value = Decimal(repr(amount))
    elif isinstance(amount, int) or _DECIMAL_TEXT.fullmatch(amount):
        value = Decimal(amount)
    else:
        raise BadRequest(
            "data.amount must be a number such as 100.50 (a string must be plain decimal digits)"
        )
    if not value.is_finite():
        raise BadRequest("data.amount must be a finite number")
    if value <= 0:
        raise BadRequest("data.amount must be greater than 0")
    # adjusted() is the exponent of the leading digit: exact, and cheap even for 1e308.
    if value.adjusted() + places >= 15:
        raise BadRequest(
            f"data.amount is too large: at most {format_minor_units(MAX_MINOR_UNITS, currency)} {currency}"
        )
    minor = Fraction(value) * 10**places  # exact: Fraction(Decimal) keeps every digit
    if minor.denominator != 1:
        raise BadRequest(f"data.amount must have at most {places} decimal places for {currency}")
    return int(minor)


def format_minor_units(minor: int, currency: str) -> str:
    """Minor units back as the decimal text of the major unit: (10050, "USD") -> "100.50"."""
    places = minor_digits(currency)
    if places == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"


# ------------------------------------------------------------------------------------------ requests


def _shown(value: object) -> str:
    """A caller's value for an error message: JSON text, cut short, so a reply never grows with input."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def _unexpected(data: Mapping[str, object], allowed: frozenset[str]) -> None:
    extra = [name for name in data if name not in allowed]
    if extra:
        # A typo ("ammount") must not pass as a missing optional field.
        shown = ", ".join(_shown(name) for name in sorted(extra)[:_NAMES_SHOWN])
        more = len(extra) - _NAMES_SHOWN
        suffix = f" and {more} more" if more > 0 else ""
        raise BadRequest(f"data has unexpected field(s): {shown}{suffix}")


def parse_request(event: object) -> CreatePayment | GetPayment:
    """Check the whole request before any I/O; the partner is looked up afterwards.

    Raises:
        BadRequest: with a message naming the field at fault.
    """
    if not isinstance(event, Mapping):
        raise BadRequest("the request must be a JSON object with partnerId, action and data")
    partner_id = event.get("partnerId")
    if not isinstance(partner_id, str) or not _PARTNER_ID.fullmatch(partner_id):
        raise BadRequest("partnerId must be a string of 1-64 letters, digits or _.:-")
    action = event.get("action")
    if action is None:
        raise BadRequest("action is required: createPayment or getPayment")
    if not isinstance(action, str) or action not in _ACTIONS:
        raise BadRequest(f"unknown action: {_shown(action)} (expected createPayment or getPayment)")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise BadRequest("data must be a JSON object")
    if action == "createPayment":
        key = event.get("idempotencyKey")
        if key is not None and (not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key)):
            raise BadRequest("idempotencyKey must be a string of 1-128 printable characters without spaces")
        _unexpected(data, _CREATE_FIELDS)
        currency = data.get("currency")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise BadRequest("data.currency must be a 3-letter upper-case ISO 4217 code such as USD")
        if "amount" not in data:
            raise BadRequest("data.amount is required")
        return CreatePayment(partner_id, to_minor_units(data["amount"], currency), currency, key)
    _unexpected(data, _GET_FIELDS)
    payment_id = data.get("paymentId")
    if payment_id is None:
        raise BadRequest("data.paymentId is required")
    if not isinstance(payment_id, str) or not _PAYMENT_ID.fullmatch(payment_id):
        raise BadRequest("data.paymentId must be a payment id such as pay_0c5e8d9b...")
    return GetPayment(partner_id, payment_id)


# ------------------------------------------------------------------------------------------- replies


def _rfc3339(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payment_data(payment: Payment) -> Reply:
    """The reply's `data`: camelCase keys; `amount` in minor units (the exact, canonical value) and
    `amountDecimal` as text in the major unit, for display."""
    return {
        "paymentId": payment.id,
        "partnerId": payment.partner_id,
        "amount": payment.amount,
        "amountDecimal": format_minor_units(payment.amount, payment.currency),
        "currency": payment.currency,
        "status": payment.status,
        "createdAt": _rfc3339(payment.created_at),
        "updatedAt": _rfc3339(payment.updated_at),
    }


def _failure(error: str) -> Reply:
    return {"success": False, "error": error}


def idempotency_key(event: object) -> list[str] | None:
    """What makes two createPayment requests the same: the partner and the client's idempotencyKey.

    The partner is part of it so two partners' clients choosing the same key never meet; None (no key)
    creates a payment every time, as before idempotency keys existed.
    """
    if isinstance(event, Mapping):
        key = event.get("idempotencyKey")
        partner = event.get("partnerId")
        if isinstance(key, str) and isinstance(partner, str):
            return [partner, key]
    return None


def new_payment_id() -> str:
    """`pay_` and 32 hex digits of a random UUID: unguessable, so ids leak nothing about volume."""
    return f"pay_{uuid.uuid4().hex}"


class Payments:
    """The handler's logic over a set of partner accounts; every outcome becomes a reply.

    Expected failures (bad request, unknown partner, payment not found) are replies only. A deadline
    and anything unexpected are logged, then answered with a short error: the caller never sees a
    stack trace or an internal message, and the log keeps what an operator needs.

    Args:
        new_id: makes payment ids (tests inject a predictable one).
        idempotency: where createPayment records its idempotency keys; None creates every request.
    """

    __slots__ = ("_accounts", "_create", "_new_id")

    def __init__(
        self,
        accounts: Accounts,
        *,
        new_id: Callable[[], str] = new_payment_id,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self._accounts = accounts
        self._new_id = new_id
        # The event's `data` is hashed too: a key reused with another amount is refused, not replayed.
        self._create: Callable[[object, CreatePayment, str], Awaitable[Reply]] = (
            self._create_payment
            if idempotency is None
            else idempotency.idempotent(key=idempotency_key, payload="data")(self._create_payment)
        )

    async def _create_payment(self, event: object, request: CreatePayment, new_id: str) -> Reply:
        """Create the payment; a repeat of an idempotent request gets this reply from the store."""
        partner_db = await self._accounts.db(request.partner_id)
        payment = await partner_db.create(
            Payment(
                partner_id=request.partner_id, id=new_id, amount=request.amount, currency=request.currency
            )
        )
        return {"success": True, "data": payment_data(payment)}

    async def handle(self, event: object) -> Reply:
        """Answer one request; never raises an Exception (cancellation still propagates)."""
        request: CreatePayment | GetPayment | None = None
        new_id: str | None = None
        try:
            request = parse_request(event)
            if isinstance(request, CreatePayment):
                new_id = self._new_id()
                return await self._create(event, request, new_id)
            partner_db = await self._accounts.db(request.partner_id)
            payment = await partner_db.get(Payment, request.partner_id, request.payment_id)
        except BadRequest as exc:
            return _failure(str(exc))
        except AccountNotFound as exc:
            return _failure(str(exc))  # "unknown partner: <id>"
        except ItemNotFound:
            return _failure("payment not found")
        except IdempotencyInProgress:
            return _failure("a request with this idempotencyKey is still being processed; retry later")
        except IdempotencyKeyMismatch:
            return _failure("idempotencyKey was already used for a different payment")
        except DeadlineExceeded as exc:
            _log.error("payments: %s (%s)", exc, _describe(request))
            if exc.outcome_unknown and new_id is not None:
                # The PutItem was sent and its reply lost: the caller can find out with getPayment.
                return _failure(f"timeout: payment {new_id} may or may not have been created")
            return _failure("timeout")
        except Exception:
            # The request boundary: AWS errors after their retries (throttling, a partner role or
            # table missing), transport failures and our own bugs are logged with their traceback
            # and answered without one.
            _log.exception("payments: internal error (%s)", _describe(request))
            return _failure("internal error")
        return {"success": True, "data": payment_data(payment)}


def _describe(request: CreatePayment | GetPayment | None) -> str:
    if request is None:
        return "request not parsed"
    action = "createPayment" if isinstance(request, CreatePayment) else "getPayment"
    return f"{action} for partner {request.partner_id}"


# ------------------------------------------------------------------------- the Lambda (init phase)

#: Region (AWS_REGION), DynamoDB endpoint (AWS_ENDPOINT_URL_DYNAMODB), table prefix
#: (AIOTHEORY_TABLE_PREFIX) and the credentials that call STS (the function's role) all come from
#: the environment. Building it does no I/O; registering compiles the codec now, not in the first call.
db: Final = DB()
db.register(Payment)
#: createPayment's idempotency records, in the function's own account (table `<prefix>idempotency`).
idempotency: Final = IdempotencyStore(db, table="idempotency")
#: PARTNER<N>_ROLE_ARN / _EXTERNAL_ID / _REGION -> "partner<N>"; AssumeRole goes to AWS_ENDPOINT_URL_STS
#: (else the regional STS endpoint) on a partner's first request, then credentials are cached.
accounts: Final = Accounts.from_env(base=db)
payments: Final = Payments(accounts, idempotency=idempotency)


@lambda_handler
async def handler(event: object, context: object) -> Reply:
    """The entry point (`handler.handler`): one event loop for the process, a deadline per invocation."""
    return await payments.handle(event)
