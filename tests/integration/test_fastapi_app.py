"""The FastAPI example (examples/fastapi_app) over httpx's ASGI transport, its lifespan run for real,
against the run's engine: status codes per error, optimistic updates, cursor pagination, deadlines."""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import pytest
from asgi_lifespan import LifespanManager

from aiotheory import DB, ValidationError
from aiotheory.testing import FaultTransport, Stall

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from types import ModuleType

    from fastapi import FastAPI

    from aiotheory.testing import Backend, MakeTable

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    """examples/fastapi_app/app.py, imported as the package `fastapi_app` the way uvicorn would."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("fastapi_app.app")
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.fixture
def app_db_factory(backend: Backend, db: DB, transport_name: Literal["lean", "botocore"]) -> Callable[[], DB]:
    """Builds the app's own DB (made in its lifespan) on the engine and table prefix of the test's `db`."""

    def factory() -> DB:
        return DB(
            region=backend.region,
            endpoint_url=backend.endpoint_url,
            credentials=backend.credentials,
            table_prefix=db.table_prefix,
            transport=transport_name,
        )

    return factory


@contextlib.asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments") as client:
            yield client


@pytest.fixture
async def client(
    example: ModuleType, app_db_factory: Callable[[], DB], make_table: MakeTable
) -> AsyncIterator[httpx.AsyncClient]:
    from fastapi_app.models import Payment

    await make_table(Payment)
    app = example.create_app(db_factory=app_db_factory, cursor_secret="s" * 32, request_timeout=10.0)
    async with _client(app) as c:
        yield c


async def _create(client: httpx.AsyncClient, partner: str, amount: int = 10050) -> dict[str, Any]:
    reply = await client.post(f"/partners/{partner}/payments", json={"amount": amount, "currency": "EUR"})
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def test_create_then_get_returns_the_stored_payment_and_its_etag(client: httpx.AsyncClient) -> None:
    reply = await client.post("/partners/p1/payments", json={"amount": 10050, "currency": "EUR"})
    assert reply.status_code == 201, reply.text
    made = reply.json()
    assert reply.headers["etag"] == '"0"'
    assert reply.headers["location"] == f"/partners/p1/payments/{made['id']}"
    assert made["id"].startswith("pay_")
    assert (made["partnerId"], made["amount"], made["currency"]) == ("p1", 10050, "EUR")
    assert (made["status"], made["version"]) == ("pending", 0)
    assert made["createdAt"] is not None and made["createdAt"] == made["updatedAt"]

    got = await client.get(f"/partners/p1/payments/{made['id']}")
    assert got.status_code == 200
    assert got.json() == made
    assert got.headers["etag"] == '"0"'


async def test_get_is_404_when_the_payment_does_not_exist(client: httpx.AsyncClient) -> None:
    made = await _create(client, "p1")
    missing = await client.get(f"/partners/p1/payments/pay_{'0' * 32}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "payment not found"}
    assert "etag" not in missing.headers
    # Another partner's id is not found either: the partner is part of the key.
    assert (await client.get(f"/partners/p2/payments/{made['id']}")).status_code == 404


async def test_patch_moves_status_and_returns_the_new_etag_when_if_match_is_current(
    client: httpx.AsyncClient,
) -> None:
    made = await _create(client, "p1")
    url = f"/partners/p1/payments/{made['id']}"
    paid = await client.patch(url, json={"status": "paid"}, headers={"If-Match": '"0"'})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["version"]) == ("paid", 1)
    assert paid.headers["etag"] == '"1"'
    refunded = await client.patch(
        url, json={"status": "refunded"}, headers={"If-Match": paid.headers["etag"]}
    )
    assert (refunded.json()["status"], refunded.json()["version"]) == ("refunded", 2)
    assert refunded.headers["etag"] == '"2"'
    got = await client.get(url)
    assert got.json() == refunded.json()
    assert got.headers["etag"] == '"2"'


@pytest.mark.parametrize("if_match", ['"0"', '"7"', "0", 'W/"1"', "*"])
async def test_patch_is_412_when_if_match_does_not_name_the_current_version(
    client: httpx.AsyncClient, if_match: str
) -> None:
    made = await _create(client, "p1")
    url = f"/partners/p1/payments/{made['id']}"
    assert (await client.patch(url, json={"status": "paid"}, headers={"If-Match": '"0"'})).status_code == 200
    stale = await client.patch(url, json={"status": "failed"}, headers={"If-Match": if_match})
    assert stale.status_code == 412, stale.text
    assert stale.headers["etag"] == '"1"'
    assert stale.json()["current"]["status"] == "paid"
    assert stale.json()["current"]["version"] == 1
    assert (await client.get(url)).json()["status"] == "paid"


async def test_patch_is_428_when_if_match_is_missing(client: httpx.AsyncClient) -> None:
    made = await _create(client, "p1")
    url = f"/partners/p1/payments/{made['id']}"
    reply = await client.patch(url, json={"status": "paid"})
    assert reply.status_code == 428, reply.text
    assert "If-Match" in reply.json()["detail"]
    assert (await client.get(url)).json()["version"] == 0


async def test_patch_is_409_when_the_status_cannot_follow(client: httpx.AsyncClient) -> None:
    made = await _create(client, "p1")
    url = f"/partners/p1/payments/{made['id']}"
    refused = await client.patch(url, json={"status": "refunded"}, headers={"If-Match": '"0"'})  # never paid
    assert refused.status_code == 409
    assert refused.json()["current"]["status"] == "pending"
    assert refused.headers["etag"] == '"0"'
    assert (await client.get(url)).json()["version"] == 0


async def test_patch_is_404_when_the_payment_does_not_exist(client: httpx.AsyncClient) -> None:
    reply = await client.patch(
        f"/partners/p1/payments/pay_{'0' * 32}", json={"status": "paid"}, headers={"If-Match": '"0"'}
    )
    assert reply.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/partners/p1/payments", {"amount": -5}),
        ("POST", "/partners/p1/payments", {"amount": 5, "currency": "euro"}),
        ("POST", "/partners/p%20x/payments", {"amount": 5}),
        ("GET", "/partners/p1/payments/not-an-id", None),
        ("PATCH", f"/partners/p1/payments/pay_{'0' * 32}", {"status": "lost"}),
        ("PATCH", f"/partners/p1/payments/pay_{'0' * 32}", {"status": "paid", "version": 0}),
        ("GET", "/partners/p1/payments?limit=0", None),
        ("GET", "/partners/p1/payments?cursor=not-a-cursor", None),
    ],
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    reply = await client.request(method, path, json=body, headers={"If-Match": '"0"'})
    assert reply.status_code == 422, reply.text


async def test_pages_return_every_payment_exactly_once(client: httpx.AsyncClient) -> None:
    made = {(await _create(client, "p1", amount=i + 1))["id"] for i in range(23)}
    other = await _create(client, "p2")  # another partner's payment never shows up

    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(20):
        params: dict[str, str | int] = {"limit": 5}
        if cursor is not None:
            params["cursor"] = cursor
        reply = await client.get("/partners/p1/payments", params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        seen.extend(p["id"] for p in page["items"])
        sizes.append(len(page["items"]))
        cursor = page["cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert len(seen) == len(made) == len(set(seen))
    assert set(seen) == made
    assert other["id"] not in seen
    assert sizes[:4] == [5, 5, 5, 5]


async def test_a_cursor_is_422_for_another_partner_or_when_tampered(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await _create(client, "p1", amount=i + 1)
    first = (await client.get("/partners/p1/payments", params={"limit": 1})).json()
    cursor = first["cursor"]
    assert cursor is not None
    assert (await client.get("/partners/p1/payments", params={"cursor": cursor})).status_code == 200
    elsewhere = await client.get("/partners/p2/payments", params={"cursor": cursor})
    assert elsewhere.status_code == 422
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert (await client.get("/partners/p1/payments", params={"cursor": tampered})).status_code == 422


async def test_a_stalled_call_is_504_when_the_request_deadline_ends(
    example: ModuleType, db: DB, app_db_factory: Callable[[], DB], make_table: MakeTable
) -> None:
    from fastapi_app.models import Payment

    await make_table(Payment)
    stored = await db.create(Payment(partner_id="p1", id=f"pay_{'1' * 32}", amount=5))

    def stalling() -> DB:
        # The app's GetItem never answers, so only the request deadline can end it; nothing else the
        # app sends runs under that deadline, so the 504 does not depend on how fast the engine is.
        inner = app_db_factory()
        return DB(
            region=db.region,
            table_prefix=db.table_prefix,
            transport=FaultTransport(inner.transport, Stall("GetItem")),
        )

    app = example.create_app(db_factory=stalling, request_timeout=0.3)
    async with _client(app) as client:
        reply = await client.get(f"/partners/p1/payments/{stored.id}")
    assert reply.status_code == 504
    assert reply.json() == {"detail": "deadline exceeded during GetItem"}
    # The same request without the stall finds the payment: the 504 came from the deadline alone.
    async with _client(example.create_app(db_factory=app_db_factory, request_timeout=10.0)) as client:
        assert (await client.get(f"/partners/p1/payments/{stored.id}")).status_code == 200


async def test_lifespan_opens_the_db_and_closes_it_at_shutdown(
    example: ModuleType, app_db_factory: Callable[[], DB], make_table: MakeTable
) -> None:
    from fastapi_app.models import Payment

    await make_table(Payment)
    opened: list[DB] = []

    def factory() -> DB:
        made = app_db_factory()
        opened.append(made)
        return made

    app = example.create_app(db_factory=factory, request_timeout=10.0)
    assert opened == []  # nothing is opened before startup
    async with _client(app) as client:
        assert len(opened) == 1
        await _create(client, "p1")
        await _create(client, "p1")
        assert len(opened) == 1  # one DB for every request
    with pytest.raises(ValidationError, match="closed"):
        await opened[0].get(Payment, "p1", f"pay_{'0' * 32}")
