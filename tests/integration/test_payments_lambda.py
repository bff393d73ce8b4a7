"""The payments Lambda (examples/lambda_payments): its replies, exact amounts and partner isolation on
moto's STS, one end-to-end run of the demo under the real runtime client, and the quickstart script.

Partners are reached by AssumeRole, which only the moto backend offers (DynamoDB Local has no STS), so
the tests that talk to an engine are moto_only.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotheory import DB, AccountConfig, Accounts, F, IdempotencyStore, RetryPolicy, deadline
from aiotheory.testing import FaultTransport, RecordingTransport, ServerFault, Stall

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from types import ModuleType

    from aiotheory.testing import Backend, Fault
    from aiotheory.transport.base import Transport

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lambda_payments"
ROLE_1 = "arn:aws:iam::111111111111:role/payments-access"
ROLE_2 = "arn:aws:iam::222222222222:role/payments-access"
NOW = dt.datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=dt.UTC)
STAMP = "2025-03-14T15:09:26.535Z"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
moto_only = pytest.mark.moto_only


@dataclass(frozen=True, slots=True)
class Example:
    handler: ModuleType
    demo: ModuleType
    models: ModuleType


@pytest.fixture(scope="module")
def example() -> Iterator[Example]:
    """The example's modules imported as Lambda imports them: top-level, from the function's directory."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        yield Example(
            importlib.import_module("handler"),
            importlib.import_module("demo"),
            importlib.import_module("models"),
        )
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in ("handler", "demo", "models"):
            sys.modules.pop(name, None)


def _event(partner: str, action: object, data: object) -> dict[str, object]:
    return {"partnerId": partner, "action": action, "data": data}


def _create(amount: object, currency: str = "USD", partner: str = "partner1") -> dict[str, object]:
    return _event(partner, "createPayment", {"amount": amount, "currency": currency})


def _get(payment_id: str, partner: str = "partner1") -> dict[str, object]:
    return _event(partner, "getPayment", {"paymentId": payment_id})


# ------------------------------------------------------------------------------- amounts, no engine


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (100.50, "USD", 10050),
        (19.99, "USD", 1999),  # 19.99 * 100 == 1998.9999999999998 as floats
        (0.3, "USD", 30),
        (1.1, "USD", 110),  # 1.1 * 100 == 110.00000000000001
        (0.07, "USD", 7),  # 0.07 * 100 == 7.000000000000001
        (100, "USD", 10000),
        ("100.50", "USD", 10050),
        ("100.500", "USD", 10050),  # trailing zeros are not extra places
        (9999999999999.99, "USD", 999_999_999_999_999),
        (1500, "JPY", 1500),
        (1.234, "KWD", 1234),
    ],
)
def test_to_minor_units_is_exact_when_the_amount_has_the_currency_places(
    example: Example, amount: object, currency: str, minor: int
) -> None:
    assert example.handler.to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        (0.1 + 0.2, "USD", "data.amount must have at most 2 decimal places for USD"),  # 0.30000000000000004
        (1e-7, "USD", "data.amount must have at most 2 decimal places for USD"),
        (100.505, "USD", "data.amount must have at most 2 decimal places for USD"),
        (
            "1.0000000000000000000000000000001",
            "USD",
            "data.amount must have at most 2 decimal places for USD",
        ),
        (100.5, "JPY", "data.amount must have at most 0 decimal places for JPY"),
        (-5, "USD", "data.amount must be greater than 0"),
        (-0.0, "USD", "data.amount must be greater than 0"),
        (0, "USD", "data.amount must be greater than 0"),
        (math.nan, "USD", "data.amount must be a finite number"),
        (math.inf, "USD", "data.amount must be a finite number"),
        (True, "USD", "data.amount must be a number such as 100.50"),
        (None, "USD", "data.amount must be a number such as 100.50"),
        ([100], "USD", "data.amount must be a number such as 100.50"),
        ("1e5", "USD", "data.amount must be a number such as 100.50 (a string must be plain decimal digits)"),
        (" 5", "USD", "data.amount must be a number such as 100.50 (a string must be plain decimal digits)"),
        (1e300, "USD", "data.amount is too large: at most 9999999999999.99 USD"),
        (10**13, "USD", "data.amount is too large: at most 9999999999999.99 USD"),
        (10**15, "JPY", "data.amount is too large: at most 999999999999999 JPY"),
    ],
)
def test_to_minor_units_refuses_when_the_amount_is_not_an_exact_positive_amount(
    example: Example, amount: object, currency: str, error: str
) -> None:
    with pytest.raises(example.handler.BadRequest) as info:
        example.handler.to_minor_units(amount, currency)
    assert str(info.value) == error


@given(minor=st.integers(min_value=1, max_value=10**15 - 1))
def test_to_minor_units_round_trips_every_cent_amount_written_as_a_json_number(
    example: Example, minor: int
) -> None:
    # Whatever a client types with two places, json.loads makes the nearest float; its decimal
    # text gives the cents back exactly.
    text = f"{minor // 100}.{minor % 100:02d}"
    assert example.handler.to_minor_units(json.loads(text), "USD") == minor
    assert example.handler.format_minor_units(minor, "USD") == text


# ------------------------------------------------------------------------ the handler over moto STS


class Service:
    """The handler's logic over two partner accounts on moto, with predictable ids and clock."""

    def __init__(
        self, backend: Backend, example: Example, faults: tuple[Fault, ...], retry: RetryPolicy | None
    ):
        self.faults = faults
        self.recorders: list[RecordingTransport] = []
        self.base = DB(
            region=backend.region,
            endpoint_url=backend.endpoint_url,
            credentials=backend.credentials,
            table_prefix=f"pl{uuid.uuid4().hex[:8]}_",
            clock=lambda: NOW,
            retry=retry,
        )
        self.accounts = Accounts(
            {"partner1": AccountConfig(ROLE_1, "ext-one"), "partner2": AccountConfig(ROLE_2, "ext-two")},
            base=self.base,
            sts_endpoint_url=backend.endpoint_url,
            wrap_transport=self._wrap,
        )
        self._ids = count(1)
        self.new_id: Callable[[], str] = self._next_id
        self.payments = example.handler.Payments(self.accounts, new_id=self._call_new_id)
        self.Payment = example.models.Payment

    def _wrap(self, inner: Transport) -> Transport:
        recorder = RecordingTransport(inner)
        self.recorders.append(recorder)
        return FaultTransport(recorder, *self.faults) if self.faults else recorder

    @property
    def operations(self) -> list[str]:
        """What reached the partners' DynamoDB, in all accounts (table set-up included)."""
        return [op for recorder in self.recorders for op in recorder.operations]

    def _next_id(self) -> str:
        return f"pay_test{next(self._ids):04d}"

    def _call_new_id(self) -> str:
        return self.new_id()

    async def handle(self, event: object) -> dict[str, Any]:
        reply: dict[str, Any] = await self.payments.handle(event)
        return reply


@pytest.fixture
async def make_service(
    backend: Backend, example: Example
) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    made: list[Service] = []

    async def make(*faults: Fault, retry: RetryPolicy | None = None) -> Service:
        service = Service(backend, example, faults, retry)
        made.append(service)
        for partner in ("partner1", "partner2"):
            await (await service.accounts.db(partner)).create_table(service.Payment)
        return service

    try:
        yield make
    finally:
        for service in made:
            await service.accounts.close()
            await service.base.close()


@pytest.fixture
async def service(make_service: Callable[..., Awaitable[Service]]) -> Service:
    return await make_service()


def _data(
    payment_id: str, amount: int, text: str, currency: str = "USD", partner: str = "partner1"
) -> dict[str, Any]:
    return {
        "paymentId": payment_id,
        "partnerId": partner,
        "amount": amount,
        "amountDecimal": text,
        "currency": currency,
        "status": "pending",
        "createdAt": STAMP,
        "updatedAt": STAMP,
    }


@moto_only
async def test_create_then_get_reply_with_the_stored_payment(service: Service) -> None:
    created = await service.handle(_create(100.50))
    assert created == {"success": True, "data": _data("pay_test0001", 10050, "100.50")}
    assert await service.handle(_get("pay_test0001")) == created
    partner_db = await service.accounts.db("partner1")
    stored = await partner_db.get(service.Payment, "partner1", "pay_test0001")
    assert (stored.amount, stored.currency, stored.status, stored.version) == (10050, "USD", "pending", 0)


@moto_only
@pytest.mark.parametrize(
    ("amount", "currency", "minor", "text"),
    [
        (19.99, "USD", 1999, "19.99"),
        ("0.07", "EUR", 7, "0.07"),
        (1500, "JPY", 1500, "1500"),
        (1.234, "KWD", 1234, "1.234"),
    ],
)
async def test_create_stores_exact_minor_units_when_the_event_carries_a_float_or_text(
    service: Service, amount: object, currency: str, minor: int, text: str
) -> None:
    reply = await service.handle(_create(amount, currency))
    assert reply == {"success": True, "data": _data("pay_test0001", minor, text, currency)}
    partner_db = await service.accounts.db("partner1")
    assert (await partner_db.get(service.Payment, "partner1", "pay_test0001")).amount == minor


@moto_only
async def test_payment_created_for_partner1_is_not_found_for_partner2(service: Service) -> None:
    assert (await service.handle(_create(100.50)))["success"] is True
    assert await service.handle(_get("pay_test0001", partner="partner2")) == {
        "success": False,
        "error": "payment not found",
    }
    # The same key in partner2's own table is a different item: the accounts do not share tables.
    assert (await service.handle(_create(5, partner="partner2")))["data"]["paymentId"] == "pay_test0002"
    assert (await service.handle(_get("pay_test0001")))["data"]["amount"] == 10050
    partner2 = await service.accounts.db("partner2")
    assert await partner2.find(service.Payment, "partner1", "pay_test0001") is None
    assert await partner2.find(service.Payment, "partner2", "pay_test0002") is not None


@moto_only
async def test_get_replies_payment_not_found_when_the_id_is_unknown(service: Service) -> None:
    assert await service.handle(_get("pay_missing")) == {"success": False, "error": "payment not found"}


@moto_only
@pytest.mark.parametrize("event", [_get("pay_test0001", partner="partner9"), _create(1, partner="partner9")])
async def test_unknown_partner_gets_the_seed_wording(service: Service, event: dict[str, object]) -> None:
    assert await service.handle(event) == {"success": False, "error": "unknown partner: partner9"}


_UNKNOWN = "(expected createPayment or getPayment)"


def test_parse_request_names_a_few_unexpected_fields_and_counts_the_rest(example: Example) -> None:
    data = {"currency": "USD", "amount": 1} | {f"field{i:05d}": 1 for i in range(10_000)}
    with pytest.raises(example.handler.BadRequest) as info:
        example.handler.parse_request(_event("partner1", "createPayment", data))
    message = str(info.value)
    assert message == 'data has unexpected field(s): "field00000", "field00001", "field00002" and 9997 more'
    long_names = {"currency": "USD", "amount": 1} | {"x" * 5_000 + str(i): 1 for i in range(4)}
    with pytest.raises(example.handler.BadRequest) as info:
        example.handler.parse_request(_event("partner1", "createPayment", long_names))
    assert len(str(info.value)) < 200  # three names cut to 40 characters each, and a count


@moto_only
@pytest.mark.parametrize(
    ("event", "error"),
    [
        ([], "the request must be a JSON object with partnerId, action and data"),
        ("createPayment", "the request must be a JSON object with partnerId, action and data"),
        ({"action": "getPayment", "data": {}}, "partnerId must be a string of 1-64 letters, digits or _.:-"),
        (_event("", "getPayment", {}), "partnerId must be a string of 1-64 letters, digits or _.:-"),
        ({"partnerId": "partner1", "data": {}}, "action is required: createPayment or getPayment"),
        (_event("partner1", "refundPayment", {}), f'unknown action: "refundPayment" {_UNKNOWN}'),
        (_event("partner1", 42, {}), f"unknown action: 42 {_UNKNOWN}"),
        (_event("partner1", "x" * 500, {}), f'unknown action: "{"x" * 38}… {_UNKNOWN}'),
        ({"partnerId": "partner1", "action": "getPayment"}, "data must be a JSON object"),
        (_event("partner1", "createPayment", [1]), "data must be a JSON object"),
        (
            _event("partner1", "createPayment", {"amount": 1}),
            "data.currency must be a 3-letter upper-case ISO 4217 code such as USD",
        ),
        (_create(1, "usd"), "data.currency must be a 3-letter upper-case ISO 4217 code such as USD"),
        (_event("partner1", "createPayment", {"currency": "USD"}), "data.amount is required"),
        (
            _event("partner1", "createPayment", {"ammount": 1, "currency": "USD"}),
            'data has unexpected field(s): "ammount"',
        ),
        (_create(100.505), "data.amount must have at most 2 decimal places for USD"),
        (_create(0.1 + 0.2), "data.amount must have at most 2 decimal places for USD"),
        (_create(1e-7), "data.amount must have at most 2 decimal places for USD"),
        (_create(math.nan), "data.amount must be a finite number"),
        (_create(False), "data.amount must be a number such as 100.50"),
        (_create(1e20), "data.amount is too large: at most 9999999999999.99 USD"),
        (_event("partner1", "getPayment", {}), "data.paymentId is required"),
        (_get("12345"), "data.paymentId must be a payment id such as pay_0c5e8d9b..."),
        (_get("pay_" + "0" * 61), "data.paymentId must be a payment id such as pay_0c5e8d9b..."),
    ],
)
async def test_malformed_request_gets_a_clear_error_and_writes_nothing(
    service: Service, event: object, error: str
) -> None:
    set_up = service.operations
    assert await service.handle(event) == {"success": False, "error": error}
    assert service.operations == set_up  # nothing reached DynamoDB


@moto_only
async def test_create_with_idempotency_key_replies_the_first_payment_when_repeated(
    service: Service, example: Example
) -> None:
    store = IdempotencyStore(service.base, table="idempotency")
    await store.create_table()
    payments = example.handler.Payments(service.accounts, new_id=service.new_id, idempotency=store)
    event = {**_create(12.34), "idempotencyKey": "order-1"}
    first = await payments.handle(dict(event))
    assert first == {"success": True, "data": _data("pay_test0001", 1234, "12.34")}
    assert await payments.handle(dict(event)) == first
    # The key is the partner's: partner2 may use the same key for its own payment.
    other = await payments.handle({**_create(12.34, partner="partner2"), "idempotencyKey": "order-1"})
    assert other["data"]["paymentId"] == "pay_test0003"  # the repeat consumed an id, but created nothing
    reused = await payments.handle({**_create(99), "idempotencyKey": "order-1"})
    assert reused == {"success": False, "error": "idempotencyKey was already used for a different payment"}
    # Without a key every request creates a payment, as the seed's requests always did.
    assert (await payments.handle(_create(1)))["data"]["paymentId"] != (await payments.handle(_create(1)))[
        "data"
    ]["paymentId"]
    partner_db = await service.accounts.db("partner1")
    assert [
        p.amount
        async for p in partner_db.query(service.Payment).key(F(service.Payment.partner_id) == "partner1")
    ] == [1234, 100, 100]
    await service.base.delete_table(store.model)


@moto_only
async def test_create_replies_bad_request_when_idempotency_key_is_malformed(service: Service) -> None:
    reply = await service.handle({**_create(1), "idempotencyKey": "has spaces"})
    assert reply == {
        "success": False,
        "error": "idempotencyKey must be a string of 1-128 printable characters without spaces",
    }
    assert "PutItem" not in service.operations


@moto_only
async def test_deadline_during_get_replies_timeout_and_logs_it(
    make_service: Callable[..., Awaitable[Service]], caplog: pytest.LogCaptureFixture
) -> None:
    service = await make_service(Stall(op="GetItem"))
    with caplog.at_level(logging.ERROR, logger="payments"):
        async with deadline(seconds=0.5):
            reply = await service.handle(_get("pay_test0001"))
    assert reply == {"success": False, "error": "timeout"}
    [record] = [r for r in caplog.records if r.name == "payments"]
    assert record.levelno == logging.ERROR
    assert (
        record.getMessage() == "payments: deadline exceeded during GetItem (getPayment for partner partner1)"
    )


@moto_only
async def test_deadline_after_a_create_was_sent_names_the_payment_to_check(
    make_service: Callable[..., Awaitable[Service]], caplog: pytest.LogCaptureFixture
) -> None:
    service = await make_service(Stall(op="PutItem", after_send=True))
    with caplog.at_level(logging.ERROR, logger="payments"):
        async with deadline(seconds=0.5):
            reply = await service.handle(_create(100.50))
    assert reply == {
        "success": False,
        "error": "timeout: payment pay_test0001 may or may not have been created",
    }
    assert "PutItem" in caplog.records[-1].getMessage()
    # The write did reach the table; the caller finds out with the id the error named.
    assert (await service.handle(_get("pay_test0001")))["data"]["amount"] == 10050


@moto_only
async def test_aws_failure_replies_internal_error_without_a_trace_and_logs_the_traceback(
    make_service: Callable[..., Awaitable[Service]], caplog: pytest.LogCaptureFixture
) -> None:
    service = await make_service(
        ServerFault(500, op="PutItem"), retry=RetryPolicy(max_attempts=1, quota=None)
    )
    with caplog.at_level(logging.ERROR, logger="payments"):
        reply = await service.handle(_create(100.50))
    assert reply == {"success": False, "error": "internal error"}
    [record] = [r for r in caplog.records if r.name == "payments"]
    assert record.getMessage() == "payments: internal error (createPayment for partner partner1)"
    assert record.exc_info is not None and "InternalServerError" in str(record.exc_info[1])


@moto_only
async def test_bug_in_the_handler_replies_internal_error_and_logs_it(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    service.new_id = _broken_id
    with caplog.at_level(logging.ERROR, logger="payments"):
        reply = await service.handle(_create(1))
    assert reply == {"success": False, "error": "internal error"}
    assert "Traceback" not in json.dumps(reply)
    [record] = [r for r in caplog.records if r.name == "payments"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


def _broken_id() -> str:
    raise KeyError("a bug")


# ----------------------------------------------------------------------------- the module as Lambda


def test_handler_module_is_configured_from_the_environment_without_io_or_botocore() -> None:
    probe = (
        "import json, sys, handler\n"
        "accounts = handler.accounts\n"
        "print(json.dumps({'table': handler.db.table_name(handler.Payment), 'partners': list(accounts),"
        " 'region': accounts.config('partner2').region, 'entry': type(handler.handler).__name__,"
        " 'botocore': 'botocore' in sys.modules}))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        # The checkout under test (a worktree's aiotheory, not whichever one is installed).
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "AWS_REGION": "eu-west-1",
        "AIOTHEORY_TABLE_PREFIX": "prod-",
        "PARTNER1_ROLE_ARN": ROLE_1,
        "PARTNER1_EXTERNAL_ID": "ext-one",
        "PARTNER2_ROLE_ARN": ROLE_2,
        "PARTNER2_REGION": "us-west-2",
        # An endpoint nobody listens on: an import that did I/O would fail or hang, not pass.
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "table": "prod-payments",
        "partners": ["partner1", "partner2"],
        "region": "us-west-2",
        "entry": "LambdaHandler",
        "botocore": False,
    }


@moto_only
def test_demo_runs_the_handler_under_awslambdaric_and_each_partner_keeps_its_own_data(
    backend: Backend, example: Example
) -> None:
    prefix = f"e2e{uuid.uuid4().hex[:6]}-"
    result = example.demo.run(backend.endpoint_url, prefix=prefix)
    replies = [row.reply for row in result.rows]
    assert [row.outcome for row in result.rows] == ["response"] * 14, result.stderr
    first = replies[0]["data"]
    assert re.fullmatch(r"pay_[0-9a-f]{32}", first["paymentId"])
    assert RFC3339.fullmatch(first["createdAt"]) and first["updatedAt"] == first["createdAt"]
    assert first == {
        **_data(first["paymentId"], 10050, "100.50"),
        "createdAt": first["createdAt"],
        "updatedAt": first["updatedAt"],
    }
    assert replies[1] == replies[0]  # getPayment returns what createPayment stored
    assert (
        replies[2]["data"]["partnerId"],
        replies[2]["data"]["amount"],
        replies[2]["data"]["currency"],
    ) == (
        "partner2",
        1999,
        "EUR",
    )
    assert replies[3] == replies[2]
    assert (replies[4]["data"]["amount"], replies[4]["data"]["amountDecimal"]) == (1500, "1500")
    not_found = {"success": False, "error": "payment not found"}
    assert replies[5:7] == [not_found, not_found]  # #1's id asked of partner2; an unknown id
    assert replies[7:12] == [
        {"success": False, "error": "unknown partner: partner3"},
        {"success": False, "error": "data.amount must have at most 2 decimal places for USD"},
        {"success": False, "error": "data.amount must have at most 2 decimal places for USD"},
        {
            "success": False,
            "error": "data.amount must be a number such as 100.50 (a string must be plain decimal digits)",
        },
        {"success": False, "error": f'unknown action: "refundPayment" {_UNKNOWN}'},
    ]
    # The duplicate createPayment (same idempotencyKey) is answered with the first reply, byte for byte.
    assert replies[12]["success"] and replies[12]["data"]["amount"] == 4200
    assert replies[13] == replies[12]
    assert result.init_ms > 0 and result.import_ms > 0
    assert result.roles == {"partner1": ROLE_1, "partner2": ROLE_2}
    table = example.demo.render(result)
    assert "unknown partner: partner3" in table and f"init: {result.init_ms} ms" in table
    # Where the data really is, read with the partners' own roles outside the handler.
    assert _stored_in(backend, example, result.roles, prefix, first["paymentId"]) == {
        "partner1": 10050,
        "partner2": None,
    }
    # One payment for the two duplicate events.
    assert _amounts_in_partner1(backend, example, result.roles, prefix) == [10050, 1500, 4200]


def _amounts_in_partner1(backend: Backend, example: Example, roles: dict[str, str], prefix: str) -> list[int]:
    """Every payment amount in partner1's table, read with partner1's role, in creation order."""
    import asyncio

    async def look() -> list[int]:
        base = DB(
            region=backend.region,
            endpoint_url=backend.endpoint_url,
            credentials=backend.credentials,
            table_prefix=prefix,
        )
        accounts = Accounts(
            {"partner1": AccountConfig(roles["partner1"])}, base=base, sts_endpoint_url=backend.endpoint_url
        )
        try:
            partner_db = await accounts.db("partner1")
            found = [p async for p in partner_db.scan(example.models.Payment)]
        finally:
            await accounts.close()
            await base.close()
        return [p.amount for p in sorted(found, key=lambda p: p.created_at)]

    return asyncio.run(look())


def _stored_in(
    backend: Backend, example: Example, roles: dict[str, str], prefix: str, payment_id: str
) -> dict[str, int | None]:
    import asyncio

    async def look() -> dict[str, int | None]:
        base = DB(
            region=backend.region,
            endpoint_url=backend.endpoint_url,
            credentials=backend.credentials,
            table_prefix=prefix,
        )
        accounts = Accounts(
            {partner: AccountConfig(arn) for partner, arn in roles.items()},
            base=base,
            sts_endpoint_url=backend.endpoint_url,
        )
        found: dict[str, int | None] = {}
        try:
            for partner in roles:
                partner_db = await accounts.db(partner)
                item = await partner_db.find(example.models.Payment, "partner1", payment_id)
                found[partner] = None if item is None else item.amount
        finally:
            await accounts.close()
            await base.close()
        return found

    return asyncio.run(look())


# ------------------------------------------------------------------------------------ the quickstart


def test_quickstart_script_runs_every_crud_step_against_its_own_moto() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    steps = [line.split("  ")[0] for line in done.stdout.splitlines()[1:]]
    assert steps == [
        "create_table",
        "create",
        "create again",
        "update",
        "update with stale version",
        "get",
        "put (replace)",
        "delete",
        "get after delete",
    ]
    out = done.stdout
    assert "ConditionFailed (ConditionalCheckFailedException)" in out
    assert "status=paid amount=10550 version=1 tags=['settled', 'web']" in out
    assert "currency=EUR" in out and "find -> None" in out and "ItemNotFound" in out
