"""The package face (aiotheory/__init__.py): exported names, laziness and import cost."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import aiotheory
import aiotheory.testing

_HEAVY = ("pydantic", "botocore", "aiobotocore", "aiohttp", "boto3")
_WIRE = ("botocore", "aiobotocore", "aiohttp", "boto3")


def _loaded_after(statement: str, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` a fresh interpreter has imported after running `statement`."""
    report = f"print(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))"
    code = f"import json, sys\n{statement}\n{report}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_all_is_sorted() -> None:
    assert aiotheory.__all__ == sorted(aiotheory.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(aiotheory.__all__) == len(set(aiotheory.__all__))


def test_all_matches_the_lazy_table() -> None:
    assert set(aiotheory.__all__) - {"__version__"} == set(aiotheory._LAZY)


@pytest.mark.parametrize("name", sorted(aiotheory._LAZY))
def test_every_public_name_resolves_from_its_module(name: str) -> None:
    value = getattr(aiotheory, name)
    module = importlib.import_module(aiotheory._LAZY[name])
    assert value is getattr(module, name)
    assert name in module.__all__


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = aiotheory.no_such_name


def test_dir_lists_every_public_name() -> None:
    assert set(aiotheory.__all__) <= set(dir(aiotheory))


def test_version_is_a_string() -> None:
    assert isinstance(aiotheory.__version__, str)
    assert aiotheory.__version__


def test_import_aiotheory_loads_no_heavy_library() -> None:
    assert _loaded_after("import aiotheory", _HEAVY) == []


def test_db_import_loads_no_botocore_or_http_library() -> None:
    assert _loaded_after("from aiotheory import DB", _WIRE) == []


def test_testing_kit_all_is_sorted_and_resolves() -> None:
    names = aiotheory.testing.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(aiotheory.testing, name) is not None
