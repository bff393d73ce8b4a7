"""`python -m examples.fastapi_app`: the payments API on a local engine, in one command.

Starts moto's server in this process (unless `AWS_ENDPOINT_URL_DYNAMODB` names an engine), sets local
credentials, creates the table at startup, serves with uvicorn on a free port and prints curl lines that
work as printed. `--smoke` makes those requests itself, prints them and exits (CI's fresh-clone check).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI

__all__ = ["main"]

#: What a local engine accepts: moto checks no signature; DynamoDB Local keeps one database per key.
_LOCAL_ENV: Final[dict[str, str]] = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
_PARTNER: Final = "p1"
_JSON: Final = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    etag: str | None
    body: dict[str, object]


def _call(method: str, url: str, body: dict[str, object] | None, headers: dict[str, str]) -> _Reply:
    # urllib rather than httpx: the example needs nothing beyond fastapi and uvicorn to run.
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return _Reply(reply.status, reply.headers.get("ETag"), json.loads(reply.read()))
    except urllib.error.HTTPError as error:
        with error:
            return _Reply(error.code, error.headers.get("ETag"), json.loads(error.read()))


async def _request(
    method: str, url: str, body: dict[str, object] | None = None, headers: dict[str, str] | None = None
) -> _Reply:
    # A blocking client in a worker thread, so the server on this loop can answer it.
    return await asyncio.to_thread(_call, method, url, body, headers or {})


def _curl(method: str, url: str, body: dict[str, object] | None = None, if_match: str | None = None) -> str:
    parts = ["curl -i"]
    if method != "GET":
        parts.append(f"-X {method}")
    parts.append(f"'{url}'")
    if if_match is not None:
        parts.append(f"-H 'If-Match: {if_match}'")
    if body is not None:
        parts.append(f"-H 'content-type: application/json' -d '{json.dumps(body)}'")
    return " ".join(parts)


async def _tour(base: str, *, smoke: bool) -> bool:
    """Create two payments and read a page, then print curl lines naming them (or, with `smoke`, make
    every request itself and check its status). True when every status was the expected one."""
    payments = f"{base}/partners/{_PARTNER}/payments"
    new: dict[str, object] = {"amount": 10050, "currency": "EUR"}
    created = await _request("POST", payments, new, _JSON)
    await _request("POST", payments, {"amount": 700, "currency": "EUR"}, _JSON)
    first_page = await _request("GET", f"{payments}?limit=1")
    one = f"{payments}/{created.body.get('id')}"
    cursor = first_page.body.get("cursor")
    paid: dict[str, object] = {"status": "paid"}
    steps: list[tuple[str, str, dict[str, object] | None, str | None, int]] = [
        ("POST", payments, new, None, 201),
        ("GET", one, None, None, 200),
        ("PATCH", one, paid, created.etag, 200),
        ("PATCH", one, {"status": "refunded"}, created.etag, 412),
        ("PATCH", one, paid, None, 428),
        ("GET", f"{payments}?limit=1", None, None, 200),
        ("GET", f"{payments}?limit=1&cursor={urllib.parse.quote(str(cursor))}", None, None, 200),
    ]
    ok = created.status == 201 and first_page.status == 200 and isinstance(cursor, str)
    if not smoke:
        print("try (the PATCH succeeds once; again it is a 412, without If-Match a 428):")
        for method, url, body, if_match, _ in steps:
            print(" ", _curl(method, url, body, if_match))
        return ok
    for method, url, body, if_match, expected in steps:
        reply = await _request(method, url, body, {**_JSON, **({"If-Match": if_match} if if_match else {})})
        ok = ok and reply.status == expected
        print(_curl(method, url, body, if_match), "->", reply.status, f"ETag: {reply.etag}")
    return ok


async def _serve(app: FastAPI, sock: socket.socket, *, smoke: bool) -> int:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    # uvicorn signals readiness only through this flag (set after the lifespan created the table).
    while not server.started:
        if serving.done():
            await serving
            return 1  # the lifespan failed; uvicorn has logged why
        await asyncio.sleep(0.02)
    host, port = sock.getsockname()[:2]
    print(f"payments API on http://{host}:{port}  (Ctrl-C stops it)", flush=True)
    ok = await _tour(f"http://{host}:{port}", smoke=smoke)
    sys.stdout.flush()
    if smoke:
        server.should_exit = True
    await serving
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.fastapi_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    parser.add_argument("--smoke", action="store_true", help="make the requests, print them, exit")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
            from aiotheory.testing import MotoServer

            moto = stack.enter_context(MotoServer())
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = moto.endpoint_url
            print(f"moto server on {moto.endpoint_url}", flush=True)
        for name, value in _LOCAL_ENV.items():
            os.environ.setdefault(name, value)
        # A fresh secret per run: cursors from an earlier run are refused, as after a key rotation.
        os.environ.setdefault("PAYMENTS_CURSOR_SECRET", secrets.token_urlsafe(32))
        from .app import create_app

        app = create_app(ensure_table=True)
        sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        # uvicorn stops gracefully on SIGINT or SIGTERM, then raises the signal again for its caller:
        # both end here as KeyboardInterrupt, after the server and its lifespan are done.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            return asyncio.run(_serve(app, sock, smoke=args.smoke))
        except KeyboardInterrupt:
            print("stopped", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
