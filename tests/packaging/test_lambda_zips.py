"""The Lambda zips, built by tools/package_lambda.py as `nox -s lambda-layer lambda-package` builds them.

Each zip is opened and checked entry by entry (bytecode for every module, matching its source; nothing
that Lambda does not need), then unpacked and imported by a fresh interpreter that sees only the unpacked
directories, the way Lambda's /var/task and /opt/python are laid out. The stand-in handler in
fixture_handler/ keeps these tests independent of the payments example; the example is covered too
once it exists. Building needs PyPI (uv resolves manylinux wheels for Lambda's platform; it caches them).
"""

from __future__ import annotations

import _imp
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

import aiotheory

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

_ROOT = Path(__file__).resolve().parents[2]
_FIXTURE_HANDLER = Path(__file__).resolve().parent / "fixture_handler"
_PAYMENTS_HANDLER = _ROOT / "examples" / "lambda_payments"

# CPython 3.11's pyc magic (3495): the bytecode must be for Lambda's python3.11, whatever runs the tests.
_MAGIC_311 = (3495).to_bytes(2, "little") + b"\r\n"
_HASH_KEY_311 = int.from_bytes(_MAGIC_311, "little")
_UNCHECKED, _CHECKED = 0b01, 0b11
_RUNTIME_DISTS = {"aiotheory", "pydantic", "pydantic_core", "anyio", "typing_extensions"}
_NEVER_SHIPPED = {"botocore", "boto3", "aiobotocore", "aioboto3", "aiohttp", "moto", "pytest"}


def _load_tool() -> ModuleType:
    path = _ROOT / "tools" / "package_lambda.py"
    spec = importlib.util.spec_from_file_location("package_lambda", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module of their class
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_output_paths_name_the_zips_after_the_handler_dir_when_no_out_is_given(tmp_path: Path) -> None:
    assert tool.output_paths(tmp_path / "orders", tmp_path) == (
        tmp_path / "orders-function.zip",
        tmp_path / "orders-handler.zip",
    )
    # the payments example keeps the names the template and docs use
    function, handler = tool.output_paths(_PAYMENTS_HANDLER)
    assert (function.name, handler.name) == ("payments-function.zip", "payments-handler.zip")


class Built(NamedTuple):
    layer: Path
    # handler dir name -> (self-contained function zip, handler-only zip)
    functions: dict[str, tuple[Path, Path]]
    handler_modules: dict[str, frozenset[str]]


def _handler_dirs() -> dict[str, Path]:
    dirs = {"fixture": _FIXTURE_HANDLER}
    if (_PAYMENTS_HANDLER / "handler.py").is_file():
        dirs["payments"] = _PAYMENTS_HANDLER
    return dirs


_HANDLERS = sorted(_handler_dirs())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("lambda-build")
    runtime = tool.stage_runtime(work)
    layer = tool.build_layer(runtime, work / "aiotheory-layer.zip")
    base = tool.function_base(runtime, work / "function-base")
    functions, modules = {}, {}
    for name, handler_dir in _handler_dirs().items():
        functions[name] = (
            tool.build_function(base, handler_dir, work / f"{name}-function.zip"),
            tool.build_handler_zip(handler_dir, work / f"{name}-handler.zip"),
        )
        modules[name] = frozenset(rel.as_posix() for _, rel in tool._handler_sources(handler_dir))
    return Built(layer, functions, modules)


def _artifacts(built: Built) -> Iterator[tuple[str, Path, frozenset[str]]]:
    """(label, zip, handler modules inside it) for every zip built."""
    yield "layer", built.layer, frozenset()
    for name, (function, handler_only) in built.functions.items():
        yield f"{name}-function", function, built.handler_modules[name]
        yield f"{name}-handler", handler_only, built.handler_modules[name]


def _bytecode_problems(zip_path: Path, handler_modules: frozenset[str]) -> list[str]:
    """Every .py needs a 3.11 hash-based pyc whose hash is its source's (checked for the handler's own
    modules, unchecked for dependencies), and no other bytecode may ride along."""
    problems = []
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        expected_pycs = set()
        for name in sorted(n for n in names if n.endswith(".py")):
            folder, _, stem = name.rpartition("/")
            pyc = f"{folder}/__pycache__/{stem[:-3]}.cpython-311.pyc".lstrip("/")
            expected_pycs.add(pyc)
            if pyc not in names:
                problems.append(f"{name}: no {pyc}")
                continue
            header = zf.read(pyc)[:16]
            flags = int.from_bytes(header[4:8], "little")
            rel = name.removeprefix("python/")
            wanted = _CHECKED if rel in handler_modules else _UNCHECKED
            if header[:4] != _MAGIC_311:
                problems.append(f"{pyc}: magic {header[:4]!r} is not CPython 3.11's")
            elif flags != wanted:
                problems.append(f"{pyc}: flags {flags:#04b}, expected {wanted:#04b}")
            elif header[8:16] != _imp.source_hash(_HASH_KEY_311, zf.read(name)):
                problems.append(f"{pyc}: hash does not match {name}")
        stray = sorted(n for n in names if n.endswith((".pyc", ".pyo")) and n not in expected_pycs)
        problems += [f"{n}: bytecode without its source or for another Python" for n in stray]
    return problems


# ------------------------------------------------------------------------------------- zip contents


def test_every_module_ships_bytecode_matching_its_source(built: Built) -> None:
    for label, zip_path, handler_modules in _artifacts(built):
        assert _bytecode_problems(zip_path, handler_modules) == [], label


def test_the_bytecode_check_catches_stale_missing_and_foreign_pycs(built: Built, tmp_path: Path) -> None:
    function, _ = built.functions["fixture"]
    doctored = tmp_path / "doctored.zip"
    with zipfile.ZipFile(function) as src, zipfile.ZipFile(doctored, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "handler.py":
                data += b"\n# edited after the build\n"
            if info.filename == "pydantic/__pycache__/main.cpython-311.pyc":
                continue
            dst.writestr(info, data)
        dst.writestr("anyio/__pycache__/abc.cpython-312.pyc", b"")
    problems = _bytecode_problems(doctored, built.handler_modules["fixture"])
    assert any("hash does not match handler.py" in p for p in problems)
    assert any(p.startswith("pydantic/main.py: no ") for p in problems)
    assert any(p.startswith("anyio/__pycache__/abc.cpython-312.pyc") for p in problems)


def test_zips_ship_no_tests_stubs_scripts_or_sdk(built: Built) -> None:
    for label, zip_path, _ in _artifacts(built):
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
        rels = [n.removeprefix("python/") if label == "layer" else n for n in names]
        if label == "layer":
            assert all(n.startswith("python/") for n in names), label
        parts = {part for rel in rels for part in rel.split("/")[:-1]}
        assert not parts & {"tests", "test", "bin"}, label
        assert not [r for r in rels if r.endswith(".pyi") or r.startswith("aiotheory/testing/")], label
        tops = {rel.split("/")[0].split("-")[0].removesuffix(".py").lower() for rel in rels}
        assert not tops & _NEVER_SHIPPED, label
        # (a dependency's own `test_*` module, like annotated_types.test_cases, is part of its API)
        assert not [r for r in rels if r.split("/")[-1] == "conftest.py"], label


def test_zips_hold_aiotheory_and_its_runtime_dependencies_for_lambda(built: Built) -> None:
    for label, zip_path, _ in _artifacts(built):
        if label.endswith("-handler"):
            continue
        with zipfile.ZipFile(zip_path) as zf:
            names = [n.removeprefix("python/") for n in zf.namelist()]
            tops = {n.split("/")[0].split("-")[0].removesuffix(".py") for n in names}
            assert tops >= _RUNTIME_DISTS, label
            # pydantic-core is the one compiled dependency: Lambda's platform, not the build machine's.
            [wheel_meta] = [
                n for n in zf.namelist() if n.endswith(".dist-info/WHEEL") and "pydantic_core" in n
            ]
            tags = zf.read(wheel_meta).decode()
            assert "cp311" in tags, label
            assert "manylinux" in tags, label
            assert "x86_64" in tags, label
            [version_file] = [n for n in zf.namelist() if n.endswith("aiotheory/_version.py")]
            assert f'__version__ = "{aiotheory.__version__}"' in zf.read(version_file).decode()


def test_handler_zip_holds_the_modules_handler_py_imports_and_nothing_else(built: Built) -> None:
    # fixture_handler/ has handler.py, the models.py it imports, and a demo.py nothing imports.
    assert built.handler_modules["fixture"] == {"handler.py", "models.py"}
    if "payments" in built.handler_modules:
        assert built.handler_modules["payments"] >= {"handler.py", "models.py"}
        assert "demo.py" not in built.handler_modules["payments"]
    for name, (function, handler_only) in built.functions.items():
        with zipfile.ZipFile(handler_only) as zf:
            assert {n for n in zf.namelist() if not n.endswith(".pyc")} == built.handler_modules[name]
        with zipfile.ZipFile(function) as zf:
            assert {n for n in zf.namelist() if "/" not in n and n.endswith(".py")} >= built.handler_modules[
                name
            ]
            assert "demo.py" not in zf.namelist()


def test_dist_info_records_name_only_shipped_files_and_no_build_paths(built: Built) -> None:
    for label, zip_path, _ in _artifacts(built):
        prefix = "python/" if label == "layer" else ""
        with zipfile.ZipFile(zip_path) as zf:
            names = set(zf.namelist())
            assert not [n for n in names if n.endswith(("/direct_url.json", "/uv_cache.json", ".lock"))]
            for record in (n for n in names if n.endswith(".dist-info/RECORD")):
                listed = {line.split(",")[0] for line in zf.read(record).decode().splitlines()}
                assert {prefix + path for path in listed} <= names, (label, record)


def test_zips_are_reproducible(built: Built, tmp_path: Path) -> None:
    _, handler_only = built.functions["fixture"]
    again = tool.build_handler_zip(_FIXTURE_HANDLER, tmp_path / "again.zip")
    assert again.read_bytes() == handler_only.read_bytes()


def test_report_names_the_biggest_packages_compressed_and_uncompressed(built: Built) -> None:
    function, _ = built.functions["fixture"]
    found = tool.contributors(function)
    assert found[0].name == "pydantic_core"  # the compiled core outweighs everything else
    assert {c.name for c in found} >= _RUNTIME_DISTS | {"handler"}
    with zipfile.ZipFile(function) as zf:
        assert sum(c.files for c in found) == len(zf.infolist())
        assert sum(c.uncompressed for c in found) == sum(i.file_size for i in zf.infolist())
    report = tool.format_report(function)
    lines = report.splitlines()
    assert lines[0].startswith(f"{function.name}: ")
    assert len(lines) == 2 + min(10, len(found))
    assert lines[2].split()[0] == "pydantic_core"


# ------------------------------------------------------------------------ import from unpacked zips

# Runs in a fresh `python -I -S`: no site-packages, no PYTHON* variables, only the unpacked directories
# on the path. The import system is instrumented (in that child only) to record every module it has to
# compile from source: with usable shipped bytecode, none under the unpacked directories.
_PROBE = """
import json, sys
import _frozen_importlib_external as _external

roots, event = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path[:0] = roots
compiled = []
_source_to_code = _external.SourceLoader.source_to_code

def _recording(self, data, path, *, _optimize=-1):
    compiled.append(path)
    return _source_to_code(self, data, path, _optimize=_optimize)

_external.SourceLoader.source_to_code = _recording
import handler
reply = handler.handler(event, None)
files = {name: getattr(module, "__file__", None) for name, module in sys.modules.items()}
print(json.dumps({"reply": reply, "compiled": compiled, "files": files}))
"""


# An invocation that needs no AWS: the fixture echoes the version; the payments handler answers an unknown
# partner from its environment's partner list (no AssumeRole, no DynamoDB) through `@lambda_handler`.
_INVOCATIONS: dict[str, tuple[object, object]] = {
    "fixture": ({}, {"version": aiotheory.__version__, "model": "i"}),
    "payments": (
        {"partnerId": "partner9", "action": "getPayment", "data": {"paymentId": "pay_1"}},
        {"success": False, "error": "unknown partner: partner9"},
    ),
}


def _unpack(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
    return into


def _snapshot(roots: list[Path]) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for root in roots
        for p in root.rglob("*")
        if p.is_file()
    }


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    pytest.fail("the Lambda zips target CPython 3.11: run the packaging tests with Python 3.11")


@pytest.mark.parametrize("handler", _HANDLERS)
@pytest.mark.parametrize("layout", ["layer", "self-contained"])
def test_handler_imports_from_unpacked_zips_with_shipped_bytecode(
    built: Built, tmp_path: Path, handler: str, layout: str
) -> None:
    function, handler_only = built.functions[handler]
    if layout == "layer":  # Lambda: /var/task first, then the layer's /opt/python
        roots = [_unpack(handler_only, tmp_path / "task"), _unpack(built.layer, tmp_path / "opt") / "python"]
    else:
        roots = [_unpack(function, tmp_path / "task")]
    before = _snapshot(roots)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AIOTHEORY_TABLE_PREFIX": "packaging-",
        "PARTNER1_ROLE_ARN": "arn:aws:iam::111111111111:role/payments-partner",
        "PARTNER1_EXTERNAL_ID": "ext-packaging",
        "PARTNER1_REGION": "us-east-1",
    }
    event, reply = _INVOCATIONS[handler]
    done = subprocess.run(
        [_python311(), "-I", "-S", "-c", _PROBE, json.dumps([str(r) for r in roots]), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    assert seen["reply"] == reply
    files = seen["files"]
    owners = {"handler": roots[0], "aiotheory": roots[-1], "pydantic": roots[-1], "pydantic_core": roots[-1]}
    for module, root in owners.items():
        assert files[module] is not None, module
        assert Path(files[module]).is_relative_to(root), (module, files[module])
    assert Path(files["pydantic_core._pydantic_core"]).suffix == ".so"
    ours = [path for path in seen["compiled"] if any(Path(path).is_relative_to(r) for r in roots)]
    assert ours == [], "compiled from source instead of the shipped bytecode"
    # With bytecode writing on (no -B, PYTHONDONTWRITEBYTECODE ignored by -I), a stale or unusable pyc
    # would have been rewritten: the unpacked trees must be exactly as unzipped.
    assert _snapshot(roots) == before


def test_the_import_probe_sees_a_module_compiled_from_source(built: Built, tmp_path: Path) -> None:
    """The probe above can fail: without its pyc the handler is compiled, and the pyc gets written."""
    _, handler_only = built.functions["fixture"]
    task = _unpack(handler_only, tmp_path / "task")
    opt = _unpack(built.layer, tmp_path / "opt") / "python"
    for pyc in (task / "__pycache__").iterdir():
        pyc.unlink()
    done = subprocess.run(
        [_python311(), "-I", "-S", "-c", _PROBE, json.dumps([str(task), str(opt)]), "{}"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["compiled"] == [str(task / "handler.py"), str(task / "models.py")]
    written = sorted(p.name for p in (task / "__pycache__").iterdir())
    assert written == ["handler.cpython-311.pyc", "models.cpython-311.pyc"]
