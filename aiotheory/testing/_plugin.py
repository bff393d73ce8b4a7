"""The pytest plugin behind `-p aiotheory.testing`: backend option, engine, DB and table fixtures.

Engines start only when a test asks for them, and the DB facade is imported only by the `db` fixture,
so loading the plugin costs a few imports of the standard library and pytest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import uuid
from typing import TYPE_CHECKING, Final, Literal

import pytest
import pytest_asyncio

from ._engines import Backend, DynamoDBLocal, Engine, MakeTable, MotoServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from aiotheory.db import DB
    from aiotheory.model import Model

__all__ = [
    "BACKENDS",
    "TRANSPORTS",
    "aiotheory_backend",
    "backend",
    "db",
    "make_table",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "transport_name",
]

BACKENDS: Final = ("moto", "ddblocal")
TRANSPORTS: Final = ("lean", "botocore")
#: Fixtures that talk to the engine: a test using any of them starts on a freshly reset moto.
_ENGINE_FIXTURES: Final = frozenset({"aiotheory_backend", "backend", "db", "make_table"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiotheory")
    group.addoption(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("AIOTHEORY_TEST_BACKEND") or "moto",
        help="DynamoDB engine for integration tests (default: $AIOTHEORY_TEST_BACKEND, else moto)",
    )
    group.addoption(
        "--transport",
        action="append",
        choices=TRANSPORTS,
        default=None,
        help="run DB tests on this transport only (repeatable; default: lean, and botocore if installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ddblocal_only: needs a behaviour only DynamoDB Local has")
    config.addinivalue_line("markers", "moto_only: needs a behaviour only the moto server has")


def _backend_name(config: pytest.Config) -> Literal["moto", "ddblocal"]:
    name: Literal["moto", "ddblocal"] = config.getoption("--backend")
    return name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    name = _backend_name(config)
    for item in items:
        if name != "ddblocal" and item.get_closest_marker("ddblocal_only"):
            item.add_marker(pytest.mark.skip(reason="needs DynamoDB Local (run with --backend=ddblocal)"))
        elif name != "moto" and item.get_closest_marker("moto_only"):
            item.add_marker(pytest.mark.skip(reason="needs the moto server (run with --backend=moto)"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrised here rather than with fixture params so `--transport` can narrow the set.
    if "transport_name" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--transport") or _installed_transports()
        names = [name for name in TRANSPORTS if name in chosen]
        metafunc.parametrize("transport_name", names, indirect=True, ids=names)


def _installed_transports() -> list[str]:
    # The light `aiotheory[testing]` extra has no aiobotocore: run on the lean wire only rather than
    # fail every botocore case with MissingExtra. Asking for it with --transport still does.
    if importlib.util.find_spec("aiobotocore") is None:
        return ["lean"]
    return list(TRANSPORTS)


@pytest.fixture(scope="session")
def aiotheory_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The engine of this run (`--backend`), started once for the session and stopped at its end."""
    name = _backend_name(request.config)
    engine: Engine
    if name == "moto":
        engine = MotoServer().start()
    else:
        engine = DynamoDBLocal(cache_root=request.config.rootpath).start()
    try:
        yield Backend(name=name, endpoint_url=engine.endpoint_url, engine=engine)
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def backend(aiotheory_backend: Backend) -> Backend:
    """Short alias of `aiotheory_backend`."""
    return aiotheory_backend


@pytest.fixture(autouse=True)
def _aiotheory_reset(request: pytest.FixtureRequest) -> None:
    """Reset moto before each test that talks to it; other tests never start an engine."""
    if _ENGINE_FIXTURES.isdisjoint(request.fixturenames) or _backend_name(request.config) != "moto":
        return
    engine_backend: Backend = request.getfixturevalue("aiotheory_backend")
    engine_backend.reset()


@pytest.fixture
def transport_name(request: pytest.FixtureRequest) -> str:
    """The transport kind, "lean" or "botocore": every test using it (or `db`) runs once per transport."""
    name: str = request.param
    return name


@pytest_asyncio.fixture
async def db(aiotheory_backend: Backend, transport_name: Literal["lean", "botocore"]) -> AsyncIterator[DB]:
    """A DB on the run's engine with a table prefix of its own, closed after the test."""
    from aiotheory.db import DB

    database = DB(
        region=aiotheory_backend.region,
        endpoint_url=aiotheory_backend.endpoint_url,
        credentials=aiotheory_backend.credentials,
        table_prefix=f"t{uuid.uuid4().hex[:8]}_",
        transport=transport_name,
    )
    try:
        yield database
    finally:
        await database.close()


@pytest_asyncio.fixture
async def make_table(db: DB) -> AsyncIterator[MakeTable]:
    """`await make_table(ModelA, ModelB)` creates the models' tables; they are deleted after the test."""
    from aiotheory.errors import ResourceNotFound

    made: list[type[Model]] = []

    async def create(*models: type[Model]) -> None:
        for model in models:
            await db.create_table(model)
            made.append(model)

    try:
        yield create
    finally:
        for model in reversed(made):
            with contextlib.suppress(ResourceNotFound):
                await db.delete_table(model)
