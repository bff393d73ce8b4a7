"""The package face (aiotheory/__init__.py): exported names, laziness and import cost."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

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


def _type_checking_imports(source: str) -> dict[str, str]:
    """name -> module of every `from .module import Name as Name` in the module-level TYPE_CHECKING block.

    A line that renames (`import A as B`) or repeats a name is reported as a failure.
    """
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        ):
            continue
        for statement in node.body:
            assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
            module = "aiotheory" + "." * (statement.level > 0) + (statement.module or "")
            for alias in statement.names:
                assert alias.asname == alias.name, f"{ast.unparse(statement)}: not an `X as X` re-export"
                assert alias.name not in found, f"{alias.name} imported twice"
                found[alias.name] = module
    return found


def test_type_checking_block_imports_exactly_the_public_names_when_parsed() -> None:
    source = Path(aiotheory.__file__).read_text(encoding="utf-8")
    imported = _type_checking_imports(source)
    # __version__ is a real import (it is cheap), not a lazy name, so it sits outside the block.
    assert sorted(imported) == sorted(set(aiotheory.__all__) - {"__version__"})
    assert imported == aiotheory._LAZY


def test_type_checking_reader_reports_a_missing_name_when_the_block_drifts() -> None:
    source = "if TYPE_CHECKING:\n    from .db import DB as DB\n    from .errors import AwsError as AwsError\n"
    assert _type_checking_imports(source) == {"DB": "aiotheory.db", "AwsError": "aiotheory.errors"}
    with pytest.raises(AssertionError, match="not an `X as X`"):
        _type_checking_imports("if TYPE_CHECKING:\n    from .db import DB as Database\n")


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
