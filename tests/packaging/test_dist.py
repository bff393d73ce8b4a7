"""The wheel and sdist as `nox -s build` makes them (tools/build_dist.py): py.typed, no tests, one
version everywhere, runtime requirements pydantic and anyio only."""

from __future__ import annotations

import email.parser
import importlib.util
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import aiotheory

if TYPE_CHECKING:
    from types import ModuleType

_ROOT = Path(__file__).resolve().parents[2]


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dist", _ROOT / "tools" / "build_dist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    wheel, sdist = tool.build_dist(tmp_path_factory.mktemp("dist"))
    return wheel, sdist


def test_wheel_ships_py_typed_no_tests_and_the_package_version(dist: tuple[Path, Path]) -> None:
    wheel, _ = dist
    assert wheel.name == f"aiotheory-{aiotheory.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = email.parser.BytesParser().parsebytes(
            zf.read(f"aiotheory-{aiotheory.__version__}.dist-info/METADATA")
        )
    assert "aiotheory/py.typed" in names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n or n.endswith(".pyc")]
    assert {n.split("/")[0] for n in names} == {"aiotheory", f"aiotheory-{aiotheory.__version__}.dist-info"}
    assert meta["Version"] == aiotheory.__version__
    unconditional = [r for r in meta.get_all("Requires-Dist") or [] if "extra" not in r.partition(";")[2]]
    assert sorted(r.split(">")[0].split("=")[0] for r in unconditional) == ["anyio", "pydantic"]
    assert tool.check_wheel(wheel) == []


def test_sdist_ships_py_typed_and_no_tests(dist: tuple[Path, Path]) -> None:
    _, sdist = dist
    base = f"aiotheory-{aiotheory.__version__}"
    assert sdist.name == f"{base}.tar.gz"
    with tarfile.open(sdist) as tf:
        names = [m.name for m in tf.getmembers() if m.isfile()]
    assert f"{base}/aiotheory/py.typed" in names
    assert f"{base}/pyproject.toml" in names
    assert not [n for n in names if "/tests/" in n or "/bench/" in n]
    assert tool.check_sdist(sdist, aiotheory.__version__) == []


def test_checks_catch_a_missing_py_typed_shipped_tests_and_a_version_mismatch(
    dist: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, sdist = dist
    doctored = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(doctored, "w") as dst:
        for info in src.infolist():
            if info.filename == "aiotheory/_version.py":
                dst.writestr(info, '__all__ = ["__version__"]\n__version__ = "0.0.0"\n')
            elif info.filename != "aiotheory/py.typed":
                dst.writestr(info, src.read(info))
        dst.writestr("tests/test_x.py", "")
    problems = tool.check_wheel(doctored)
    assert "wheel: no aiotheory/py.typed" in problems
    assert "wheel: ships tests/test_x.py" in problems
    assert f"wheel: aiotheory.__version__ is 0.0.0, METADATA says {aiotheory.__version__}" in problems
    assert tool.check_sdist(sdist, "9.9.9") == [
        f"sdist: PKG-INFO version {aiotheory.__version__} != wheel version 9.9.9"
    ]
