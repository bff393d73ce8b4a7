"""transport/_factory and the loop rule of the transports it builds, against a real keep-alive socket."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import subprocess
import sys
import warnings
from typing import Annotated

import pytest

from aiotheory import DB, PK, Model
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.errors import ValidationError
from aiotheory.testing import KeepAliveStub
from aiotheory.transport import BotocoreTransport, LeanTransport, Transport
from aiotheory.transport._factory import make_transport

CREDS = Credentials(access_key_id="k", secret_access_key="s")


class Note(Model, table="notes"):
    id: Annotated[str, PK]


def _db(endpoint_url: str, transport: str) -> DB:
    return DB(region="us-east-1", endpoint_url=endpoint_url, credentials=("k", "s"), transport=transport)  # type: ignore[arg-type]  # both names under test


async def _find(db: DB) -> Note | None:
    return await db.find(Note, "n1")


def test_transport_package_exports_both_transports_lazily() -> None:
    code = (
        "import sys, aiotheory.transport as t\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aiobotocore', 'aiotheory.transport.'))))\n"
        "assert t.LeanTransport.__name__ == 'LeanTransport'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "['aiotheory.transport.base']"
    assert {"BotocoreTransport", "LeanTransport", "Transport"} <= set(
        dir(importlib.import_module("aiotheory.transport"))
    )


def test_make_transport_builds_each_kind_and_shares_a_given_provider() -> None:
    provider = StaticProvider(CREDS)
    lean = make_transport(
        "lean", region="eu-west-1", endpoint_url=None, credentials=provider, session=None, pool_size=4
    )
    boto = make_transport(
        "botocore", region="eu-west-1", endpoint_url=None, credentials=CREDS, session=None, pool_size=4
    )
    assert isinstance(lean, LeanTransport) and isinstance(boto, BotocoreTransport)
    assert isinstance(lean, Transport) and isinstance(boto, Transport)
    assert lean.region == "eu-west-1" and lean.partner is None


def test_make_transport_raises_validation_error_when_botocore_gets_a_provider() -> None:
    with pytest.raises(ValidationError, match="tuple or Credentials"):
        make_transport(
            "botocore",
            region="eu-west-1",
            endpoint_url=None,
            credentials=StaticProvider(CREDS),
            session=None,
            pool_size=4,
        )


def test_credential_provider_is_resolved_once_when_accessed_twice() -> None:
    db = DB(region="us-east-1")
    assert db.credential_provider is db.credential_provider


@pytest.mark.parametrize("kind", ["lean", "botocore"])
def test_db_rebinds_when_used_from_a_new_loop_after_the_old_closed(kind: str) -> None:
    with KeepAliveStub() as stub, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the dead loop's sockets, collected below
        db = _db(stub.endpoint_url, kind)
        assert asyncio.run(_find(db)) is None
        transport = db.transport
        assert asyncio.run(_find(db)) is None  # "Event loop is closed" without a rebind
        assert db.transport is transport  # the transport rebinds itself; the DB holds no loop
        asyncio.run(db.close())
        gc.collect()


@pytest.mark.parametrize("kind", ["lean", "botocore"])
def test_db_raises_validation_error_when_used_from_a_second_open_loop(kind: str) -> None:
    with KeepAliveStub() as stub:
        db = _db(stub.endpoint_url, kind)
        first = asyncio.new_event_loop()
        try:
            assert first.run_until_complete(_find(db)) is None
            with pytest.raises(ValidationError, match="another event loop that is still open"):
                asyncio.run(_find(db))
            assert first.run_until_complete(_find(db)) is None  # the first loop still works
        finally:
            first.run_until_complete(db.close())
            first.close()
