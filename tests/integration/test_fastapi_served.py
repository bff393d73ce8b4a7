"""The FastAPI example as a user runs it: `python -m examples.fastapi_app` in a subprocess (uvicorn on a
free port), driven over real HTTP with httpx: ETag/If-Match, signed-cursor pages, a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory.testing import Backend

pytest.importorskip("uvicorn", reason="the served example needs uvicorn (the test extra installs it)")

ROOT: Final = Path(__file__).resolve().parents[2]
_BASE: Final = re.compile(rb"payments API on (http://\S+)")
#: Starting the interpreter, fastapi and (for the smoke run) moto takes a few seconds on a busy machine.
_START_TIMEOUT: Final = 60.0


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIOTHEORY_", "PAYMENTS_"))}
    # The worktree's aiotheory and examples, whatever the interpreter has installed.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env | extra


@contextlib.asynccontextmanager
async def _served(
    env: dict[str, str], *args: str
) -> AsyncIterator[tuple[str, bytes, asyncio.subprocess.Process]]:
    """The example started as `python -m examples.fastapi_app --port 0 ARGS`: its base URL, what it
    printed up to that line, and the process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.fastapi_app",
        "--port",
        "0",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        seen = b""
        async with asyncio.timeout(_START_TIMEOUT):
            while (found := _BASE.search(seen)) is None:
                line = await proc.stdout.readline()
                assert line, f"exited before serving: {seen!r}"
                seen += line
        yield found.group(1).decode(), seen, proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_served_app_answers_etags_preconditions_and_cursor_pages_over_http(backend: Backend) -> None:
    env = _env(
        AWS_ENDPOINT_URL_DYNAMODB=backend.endpoint_url,
        AWS_REGION=backend.region,
        AWS_ACCESS_KEY_ID=backend.access_key,
        AWS_SECRET_ACCESS_KEY=backend.secret_key,
        # A prefix of its own: the launcher creates the table itself, so it never meets another test's.
        AIOTHEORY_TABLE_PREFIX=f"t{uuid.uuid4().hex[:8]}_",
        PAYMENTS_CURSOR_SECRET="c" * 32,
    )
    async with _served(env) as (base, _, proc), httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        payments = "/partners/http1/payments"
        made = await client.post(payments, json={"amount": 10050, "currency": "EUR"})
        assert made.status_code == 201, made.text
        url = f"{payments}/{made.json()['id']}"

        got = await client.get(url)
        assert got.status_code == 200
        assert got.headers["etag"] == '"0"'
        assert got.json() == made.json()

        missing = await client.patch(url, json={"status": "paid"})
        assert missing.status_code == 428
        paid = await client.patch(url, json={"status": "paid"}, headers={"If-Match": got.headers["etag"]})
        assert paid.status_code == 200, paid.text
        assert paid.headers["etag"] == '"1"'
        stale = await client.patch(
            url, json={"status": "refunded"}, headers={"If-Match": got.headers["etag"]}
        )
        assert stale.status_code == 412
        assert stale.json()["current"]["status"] == "paid"

        for amount in (1, 2):
            assert (await client.post(payments, json={"amount": amount})).status_code == 201
        first = await client.get(payments, params={"limit": 2})
        assert first.status_code == 200
        cursor = first.json()["cursor"]
        assert isinstance(cursor, str) and cursor.count(".") == 1  # signed: payload.signature
        rest = await client.get(payments, params={"limit": 2, "cursor": cursor})
        assert rest.status_code == 200
        ids = [p["id"] for p in first.json()["items"] + rest.json()["items"]]
        assert len(ids) == len(set(ids)) == 3
        assert rest.json()["cursor"] is None
        forged = await client.get(payments, params={"cursor": cursor[:-4] + "AAA="})
        assert forged.status_code == 422

        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().rstrip().endswith("stopped")


async def test_smoke_run_starts_its_own_engine_serves_and_exits_0() -> None:
    async with _served(_env(), "--smoke") as (base, seen, proc), asyncio.timeout(_START_TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    lines = (seen + out).decode().splitlines()
    assert any(line.startswith("moto server on http://127.0.0.1:") for line in lines)
    statuses = [line.rsplit(" -> ", 1)[1].split()[0] for line in lines if " -> " in line]
    assert statuses == ["201", "200", "200", "412", "428", "200", "200"]
    assert base.startswith("http://127.0.0.1:")
