"""Smoke tests of the test kit itself: the engines, the backend fixture and the plugin's options."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import PK, Model
from aiotheory.testing import Backend, DynamoDBLocal, MotoServer, find_dynamodb_local

if TYPE_CHECKING:
    from pathlib import Path

    from aiotheory import DB
    from aiotheory.testing import MakeTable


class Widget(Model, table="widgets"):
    id: Annotated[str, PK]


def _dynamodb(backend: Backend, target: str, body: dict[str, Any]) -> dict[str, Any]:
    """One raw DynamoDB JSON call, signed only in form: neither engine checks the signature."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{target}",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={backend.access_key}/20240101/{backend.region}/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0"
        ),
    }
    request = urllib.request.Request(backend.endpoint_url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        result: dict[str, Any] = json.loads(reply.read())
    return result


def _table_names(backend: Backend) -> list[str]:
    names: list[str] = _dynamodb(backend, "ListTables", {})["TableNames"]
    return names


def _create_raw_table(backend: Backend, name: str) -> None:
    _dynamodb(
        backend,
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def test_backend_is_the_engine_chosen_on_the_command_line(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    assert backend.name == request.config.getoption("--backend")
    assert backend.endpoint_url.startswith("http://127.0.0.1:")
    assert (backend.region, backend.credentials) == ("us-east-1", ("testing", "testing"))
    assert "secret_key" not in repr(backend)


def test_backend_answers_and_reset_forgets_its_tables(backend: Backend) -> None:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    _create_raw_table(backend, name)
    assert name in _table_names(backend)
    backend.reset()
    assert name not in _table_names(backend)


@pytest.mark.moto_only
def test_moto_starts_each_engine_test_from_an_empty_engine(backend: Backend) -> None:
    # Tables created by earlier tests (above) are gone: the plugin reset moto before this test.
    assert _table_names(backend) == []


def test_moto_server_runs_callbacks_on_reset_and_stops() -> None:
    seen: list[str] = []
    with MotoServer() as server:
        url = server.endpoint_url
        server.on_reset(lambda: seen.append("cleared"))
        server.reset()
        server.reset()
    assert seen == ["cleared", "cleared"]
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.endpoint_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/moto-api/reset", data=b"", timeout=2)


def test_find_dynamodb_local_finds_the_jar_at_any_depth(tmp_path: Path) -> None:
    assert find_dynamodb_local(tmp_path / "missing") is None
    assert find_dynamodb_local(tmp_path) is None
    home = tmp_path / "package" / "lib" / "dynamodb_local_2026"
    home.mkdir(parents=True)
    (home / "DynamoDBLocal.jar").write_bytes(b"")
    assert find_dynamodb_local(tmp_path) == home


def test_dynamodb_local_start_fails_fast_with_the_engine_output(tmp_path: Path) -> None:
    (tmp_path / "DynamoDBLocal.jar").write_bytes(b"not a jar")
    engine = DynamoDBLocal(tmp_path, startup_timeout=30)
    with pytest.raises(RuntimeError, match="exited with status") as info:
        engine.start()
    assert "jar" in str(info.value).lower()
    with pytest.raises(RuntimeError, match="not running"):
        _ = engine.endpoint_url


def test_dynamodb_local_start_passes_the_heap_to_the_jvm_when_given(tmp_path: Path) -> None:
    (tmp_path / "DynamoDBLocal.jar").write_bytes(b"")
    java = tmp_path / "java"  # stands in for the JVM: prints its arguments into the engine log, exits
    java.write_text('#!/bin/sh\necho "args: $*"\nexit 3\n')
    java.chmod(0o755)
    for engine, flag in (
        (DynamoDBLocal(tmp_path, java=str(java), startup_timeout=30), "-Xmx256m "),
        (DynamoDBLocal(tmp_path, java=str(java), startup_timeout=30, heap="1g"), "-Xmx1g "),
    ):
        with pytest.raises(RuntimeError, match="exited with status 3") as info:
            engine.start()
        assert flag in str(info.value)


async def test_db_fixture_points_at_the_backend_with_its_own_prefix(
    db: DB, backend: Backend, transport_name: str
) -> None:
    assert db.endpoint_url == backend.endpoint_url
    assert db.region == backend.region
    assert db.table_prefix.startswith("t")
    assert db.table_prefix.endswith("_")
    assert transport_name in ("lean", "botocore")


async def test_make_table_creates_the_models_tables(db: DB, backend: Backend, make_table: MakeTable) -> None:
    await make_table(Widget)
    assert db.table_name(Widget) in _table_names(backend)


_PLUGIN_INI = """
[pytest]
asyncio_default_fixture_loop_scope = session
filterwarnings = error
"""
_PLUGIN_TESTS = """
import pytest

@pytest.mark.ddblocal_only
def test_needs_ddblocal():
    pass

@pytest.mark.moto_only
def test_needs_moto():
    pass

def test_per_transport(transport_name):
    assert transport_name in ("lean", "botocore")
"""


def test_plugin_skips_by_capability_and_parametrizes_transports(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_kit=_PLUGIN_TESTS)
    pytester.makeini(_PLUGIN_INI)
    result = pytester.runpytest_subprocess(
        "-p", "aiotheory.testing", "-v", "-rs", "--backend=moto", "--transport=lean"
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*test_per_transport[[]lean[]] PASSED*"])
    result.stdout.fnmatch_lines(["*needs DynamoDB Local (run with --backend=ddblocal)*"])
    assert "botocore" not in result.stdout.str()


def test_plugin_reads_the_backend_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOTHEORY_TEST_BACKEND", "ddblocal")
    pytester.makepyfile(test_kit=_PLUGIN_TESTS)
    pytester.makeini(_PLUGIN_INI)
    result = pytester.runpytest_subprocess("-p", "aiotheory.testing", "-rs", "-k", "needs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs the moto server*"])
