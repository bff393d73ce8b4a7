"""tools/import_graph.py: the package's import graph has no runtime cycle and no upward import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_ROOT = Path(__file__).resolve().parents[2]
_TOOL = _ROOT / "tools" / "import_graph.py"

#: Violations the package has today, each being removed by another issue 11 workstream. A violation not
#: listed here fails the test; delete an entry once its workstream is merged (then the list is empty).
#: Violations accepted for now, each with the reason; empty since issue 11 removed the last cycles.
KNOWN_VIOLATIONS: frozenset[str] = frozenset()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(_TOOL), *args], capture_output=True, text=True, check=False, timeout=60
    )


def _violations(output: str) -> set[str]:
    return {line for line in output.splitlines() if line.startswith("VIOLATION")}


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    """A throwaway package named `aiotheory` (so the tool's layer table applies) under tmp_path."""
    root = tmp_path / "aiotheory"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_import_graph_reports_only_known_violations_when_run_on_the_package() -> None:
    done = _run()
    assert "Traceback" not in done.stderr, done.stderr
    found = _violations(done.stdout)
    assert found - KNOWN_VIOLATIONS == set(), "new import-graph violations:\n" + "\n".join(sorted(found))
    assert done.returncode == (1 if found else 0)


def test_import_graph_lists_every_module_with_its_layer_when_run_on_the_package() -> None:
    lines = _run().stdout.splitlines()
    assert "aiotheory.errors [base]" in lines
    assert "aiotheory.db [operations]" in lines
    assert "aiotheory.testing [face]" in lines
    assert not any(line.endswith("[?]") for line in lines)


def test_import_graph_fails_when_a_lazy_import_closes_a_cycle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "db.py": "from . import query\n",
            "query.py": "def run():\n    from .db import DB\n    return DB\n",
        },
    )
    done = _run("--package", str(root))
    assert done.returncode == 1
    assert _violations(done.stdout) == {"VIOLATION cycle aiotheory.db <-> aiotheory.query"}
    assert "    lazy: aiotheory.db" in done.stdout.splitlines()


def test_import_graph_ignores_a_cycle_when_one_side_is_type_checking_only(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "db.py": "from . import query\n",
            "query.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .db import DB\n",
        },
    )
    done = _run("--package", str(root))
    assert (done.returncode, _violations(done.stdout)) == (0, set())
    assert "    typing: aiotheory.db" in done.stdout.splitlines()


def test_import_graph_fails_when_a_lower_layer_imports_a_higher_one(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "errors.py": "",
            "model.py": "from .errors import X\n",
            "transport/__init__.py": "",
            "transport/lean.py": "from aiotheory.model import Model\n",
        },
    )
    done = _run("--package", str(root))
    assert (done.returncode, _violations(done.stdout)) == (0, set())  # wire imports data: downward
    (root / "model.py").write_text("def f():\n    from .transport import lean\n", encoding="utf-8")
    done = _run("--package", str(root))
    assert done.returncode == 1
    assert _violations(done.stdout) == {
        "VIOLATION upward aiotheory.model (data) -> aiotheory.transport.lean (wire), lazy import",
        "VIOLATION cycle aiotheory.model <-> aiotheory.transport.lean",
    }


def test_import_graph_fails_when_a_module_has_no_layer(tmp_path: Path) -> None:
    done = _run("--package", str(_package(tmp_path, {"helpers.py": ""})))
    assert done.returncode == 1
    assert _violations(done.stdout) == {"VIOLATION unplaced aiotheory.helpers: add it to LAYERS"}


def test_import_graph_prints_dot_with_violations_on_stderr_when_asked(tmp_path: Path) -> None:
    root = _package(tmp_path, {"db.py": "from . import query\n", "query.py": "from . import db\n"})
    done = _run("--dot", "--package", str(root))
    assert done.stdout.startswith('digraph "aiotheory" {')
    assert '"aiotheory.db" -> "aiotheory.query" [style=solid];' in done.stdout
    assert _violations(done.stderr) == {"VIOLATION cycle aiotheory.db <-> aiotheory.query"}
    assert done.returncode == 1
