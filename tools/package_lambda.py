"""Build the AWS Lambda artifacts: the aiotheory layer and the payments function zips.

    python tools/package_lambda.py layer                   -> dist/aiotheory-layer.zip
    python tools/package_lambda.py package [--handler-dir examples/lambda_payments] [--out F --handler-out F]
        -> dist/payments-function.zip (self-contained), dist/payments-handler.zip (code only, for the layer)
        (named after the handler dir, less a leading "lambda_": --handler-dir src/orders -> dist/orders-*.zip)
    python tools/package_lambda.py coldstart dist/payments-function.zip   (import time with and without .pyc)

Target: Lambda's python3.11 runtime on x86_64. Dependencies are resolved by uv for that platform
(manylinux2014 wheels only, never the build machine's own wheels), so the zips are right whatever builds them.

Bytecode: Lambda unpacks the code read-only, so a module without a usable .pyc is compiled again in every
cold start (about 430 ms for the payments stack). Every module therefore ships a hash-based pyc (PEP 552)
compiled by CPython 3.11: it records a hash of its source instead of the source's mtime, so it stays valid
whatever mtimes unzip gives the files. Dependencies get *unchecked* pycs (the importer never reads their
source); the handler's own modules get *checked* ones (editable in place; a few KB hashed per cold start).
Zip entries get a fixed date, so the same inputs give the same bytes. docs/deploy.md explains the choice.

This script never imports aiotheory: it builds the wheel from the checkout and installs that.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import csv
import dataclasses
import importlib.util
import os
import py_compile
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "FUNCTION_ROOT",
    "LAMBDA_PYTHON",
    "LAYER_ROOT",
    "PLATFORM",
    "Contributor",
    "build_function",
    "build_handler_zip",
    "build_layer",
    "build_wheel",
    "contributors",
    "format_report",
    "function_base",
    "main",
    "measure_cold_start",
    "output_paths",
    "stage_runtime",
]

LAMBDA_PYTHON = (3, 11)
PLATFORM = "x86_64-manylinux2014"
# Where Lambda unpacks each artifact: baked into the code objects' file names so tracebacks read right.
LAYER_ROOT = "/opt/python"
FUNCTION_ROOT = "/var/task"

_ROOT = Path(__file__).resolve().parent.parent
_DIST = _ROOT / "dist"
# Zip's DOS dates cannot go below 1980; a constant date makes the archive reproducible.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Dead weight in Lambda: console scripts (shebangs for the build machine), type stubs, test suites,
# and aiotheory's own pytest kit (it needs pytest and moto, which a function never has).
_DROP_DIRS = frozenset({"__pycache__", "bin", "tests", "test"})
_DROP_SUFFIXES = (".pyc", ".pyo", ".pyi")
# uv's lock for the --target directory; install provenance naming the build machine's paths (PEP 610).
_DROP_NAMES = frozenset({".lock", "direct_url.json", "uv_cache.json"})
_DROP_PATHS = ("aiotheory/testing",)


@dataclasses.dataclass(frozen=True, slots=True)
class Contributor:
    """One package's share of a zip (its modules, bytecode and dist-info together)."""

    name: str
    files: int
    compressed: int
    uncompressed: int


# ------------------------------------------------------------------------------------------ staging


def _check_interpreter() -> None:
    # compileall writes bytecode for the running interpreter: it must be the one Lambda runs.
    if sys.version_info[:2] != LAMBDA_PYTHON:
        wanted = ".".join(map(str, LAMBDA_PYTHON))
        raise SystemExit(
            f"run this with Python {wanted} (the Lambda runtime's), not {sys.version.split()[0]}"
        )


def _uv() -> str:
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise SystemExit("uv is needed (pip install uv)") from None
        return found
    return str(find_uv_bin())


def _run(args: Sequence[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def build_wheel(out_dir: Path, *, root: Path = _ROOT) -> Path:
    """Build aiotheory's wheel from `root` into `out_dir` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("aiotheory-*.whl"))
    _run([_uv(), "build", "--wheel", "--out-dir", str(out_dir), str(root)])
    built = sorted(set(out_dir.glob("aiotheory-*.whl")) - before) or sorted(out_dir.glob("aiotheory-*.whl"))
    if len(built) != 1:
        raise SystemExit(f"expected one aiotheory wheel in {out_dir}, found {[p.name for p in built]}")
    return built[0]


def stage_runtime(work: Path, *, root: Path = _ROOT, wheel: Path | None = None) -> Path:
    """Install aiotheory and its runtime dependencies for Lambda's platform into `work/runtime`.

    The result is pruned but not compiled: each artifact copies it and compiles for its own location.
    """
    _check_interpreter()
    wheel = wheel if wheel is not None else build_wheel(work / "wheel", root=root)
    target = work / "runtime"
    if target.exists():
        shutil.rmtree(target)
    version = ".".join(map(str, LAMBDA_PYTHON))
    _run(
        [
            _uv(),
            "pip",
            "install",
            "--target",
            str(target),
            "--python-platform",
            PLATFORM,
            "--python-version",
            version,
            "--only-binary",
            ":all:",
            # uv hard-links from its cache by default; copies keep the cache safe from our pruning.
            "--link-mode",
            "copy",
            "--quiet",
            str(wheel),
        ]
    )
    _prune(target)
    return target


def _prune(tree: Path) -> None:
    for rel in _DROP_PATHS:
        shutil.rmtree(tree / rel, ignore_errors=True)
    for path in sorted(tree.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            if path.name in _DROP_DIRS or not any(path.iterdir()):
                shutil.rmtree(path)
        elif path.name.endswith(_DROP_SUFFIXES) or path.name in _DROP_NAMES:
            path.unlink()
    # A dir emptied by the pass above (e.g. pydantic_core/_pydantic_core held only stubs).
    for path in sorted(tree.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    # Keep each RECORD true to what ships (and the zip reproducible): drop the lines of removed files.
    for record in tree.glob("*.dist-info/RECORD"):
        rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines()))
        kept = [
            row
            for row in rows
            if row and (row[0] == f"{record.parent.name}/RECORD" or (tree / row[0]).is_file())
        ]
        with record.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out, lineterminator="\n").writerows(kept)


def _compile_dependencies(tree: Path, location: str) -> None:
    ok = compileall.compile_dir(
        tree,
        ddir=location,
        quiet=1,
        workers=1,
        optimize=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise SystemExit(f"some modules under {tree} do not compile with Python {sys.version.split()[0]}")


def _add_handler(tree: Path, handler_dir: Path, location: str) -> None:
    """Copy the handler's modules into `tree` with *checked* hash pycs.

    Unlike installed dependencies, these files can be edited in place after the build (the Lambda
    console edits small code-only zips): a checked pyc then falls back to the edited source instead of
    running stale bytecode. The check hashes a few kilobytes of source per cold start.
    """
    for source, rel in _handler_sources(handler_dir):
        dest = tree / rel
        if dest.exists():
            raise SystemExit(f"{rel} in {handler_dir} would shadow a dependency's module")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        py_compile.compile(
            str(dest),
            cfile=importlib.util.cache_from_source(str(dest)),
            dfile=f"{location}/{rel.as_posix()}",
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )


def _local_imports(source: Path, handler_dir: Path) -> set[str]:
    """Top-level names `source` imports that are modules or packages of `handler_dir`."""
    found = set()
    for node in ast.walk(ast.parse(source.read_bytes(), str(source))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            if (handler_dir / f"{top}.py").is_file() or (handler_dir / top / "__init__.py").is_file():
                found.add(top)
    return found


def _handler_sources(handler_dir: Path) -> Iterator[tuple[Path, Path]]:
    """(source, relative destination) for handler.py and the local modules it imports, transitively.

    Only what the handler imports ships: a demo or a test script beside it (which may need moto or
    pytest) stays out. Packages ship whole, minus tests and caches.
    """
    if not (handler_dir / "handler.py").is_file():
        raise SystemExit(f"{handler_dir} has no handler.py (the template's Handler is handler.handler)")
    files: set[Path] = set()
    pending, seen = ["handler"], {"handler"}
    while pending:
        name = pending.pop()
        module = handler_dir / f"{name}.py"
        sources = [module] if module.is_file() else sorted((handler_dir / name).rglob("*.py"))
        for path in sources:
            rel = path.relative_to(handler_dir)
            if (
                _DROP_DIRS.intersection(rel.parts[:-1])
                or rel.name.startswith("test_")
                or rel.name == "conftest.py"
            ):
                continue
            files.add(path)
            for found in _local_imports(path, handler_dir) - seen:
                seen.add(found)
                pending.append(found)
    for path in sorted(files):
        yield path, path.relative_to(handler_dir)


# -------------------------------------------------------------------------------------------- zips


def _files(tree: Path) -> Iterator[Path]:
    for path in sorted(tree.rglob("*")):
        if path.is_file():
            yield path


def _write_zip(out: Path, entries: Iterable[tuple[str, Path]]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    # zlib's default level: level 9 took twice as long here for a zip 0.7% smaller.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Regular file, readable by Lambda's sandbox user whatever the build machine's umask.
            mode = 0o755 if os.access(path, os.X_OK) and path.suffix == ".so" else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, path.read_bytes())
    partial.replace(out)
    return out


def build_layer(runtime: Path, out: Path) -> Path:
    """The layer zip: `python/` holding aiotheory and its dependencies (Lambda's /opt/python)."""
    with tempfile.TemporaryDirectory(prefix="aiotheory-layer-") as tmp:
        tree = Path(tmp) / "python"
        shutil.copytree(runtime, tree)
        _compile_dependencies(tree, LAYER_ROOT)
        return _write_zip(out, ((f"python/{p.relative_to(tree).as_posix()}", p) for p in _files(tree)))


def function_base(runtime: Path, into: Path) -> Path:
    """A copy of the staged runtime compiled for /var/task: what every function zip starts from."""
    shutil.copytree(runtime, into)
    _compile_dependencies(into, FUNCTION_ROOT)
    return into


def build_function(base: Path, handler_dir: Path, out: Path) -> Path:
    """The self-contained function zip: handler modules at the root next to aiotheory and its deps.

    `base` comes from `function_base` and is left as it was.
    """
    _check_interpreter()
    with tempfile.TemporaryDirectory(prefix="aiotheory-function-") as tmp:
        tree = Path(tmp) / "task"
        shutil.copytree(base, tree)
        _add_handler(tree, handler_dir, FUNCTION_ROOT)
        return _write_zip(out, ((p.relative_to(tree).as_posix(), p) for p in _files(tree)))


def build_handler_zip(handler_dir: Path, out: Path) -> Path:
    """The handler's own modules only: the function code when aiotheory comes from the layer."""
    _check_interpreter()
    with tempfile.TemporaryDirectory(prefix="aiotheory-handler-") as tmp:
        tree = Path(tmp) / "task"
        tree.mkdir()
        _add_handler(tree, handler_dir, FUNCTION_ROOT)
        return _write_zip(out, ((p.relative_to(tree).as_posix(), p) for p in _files(tree)))


# ------------------------------------------------------------------------------------------ report

_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-[^-]+\.(dist|egg)-info$")


def _owner(arcname: str) -> str:
    parts = arcname.split("/")
    if parts[0] == "python" and len(parts) > 1:
        parts = parts[1:]
    top = parts[0]
    if top == "__pycache__" and len(parts) > 1:  # a top-level module's bytecode
        return parts[1].split(".", 1)[0]
    if match := _DIST_INFO.match(top):
        return match["name"].lower().replace("-", "_")
    return top.removesuffix(".py") if len(parts) == 1 else top


def contributors(zip_path: Path) -> list[Contributor]:
    """Per package totals of a zip, biggest (compressed) first."""
    totals: dict[str, list[int]] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            entry = totals.setdefault(_owner(info.filename), [0, 0, 0])
            entry[0] += 1
            entry[1] += info.compress_size
            entry[2] += info.file_size
    found = [Contributor(name, *counts) for name, counts in totals.items()]
    return sorted(found, key=lambda c: (-c.compressed, c.name))


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def format_report(zip_path: Path, top: int = 10) -> str:
    """Size of the zip and its `top` biggest packages, compressed and uncompressed."""
    with zipfile.ZipFile(zip_path) as zf:
        unpacked = sum(i.file_size for i in zf.infolist())
        count = len(zf.infolist())
    size = zip_path.stat().st_size
    lines = [
        f"{zip_path.name}: {_kib(size)} zipped, {_kib(unpacked)} unpacked, {count} files "
        f"(Lambda limits: 50 MiB zipped upload, 250 MiB unpacked with layers)",
        f"  {'package':<22} {'files':>6} {'compressed':>14} {'uncompressed':>14} {'share':>6}",
    ]
    for c in contributors(zip_path)[:top]:
        share = f"{100 * c.compressed / size:.0f}%"
        lines.append(
            f"  {c.name:<22} {c.files:>6} {_kib(c.compressed):>14} {_kib(c.uncompressed):>14} {share:>6}"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- cold start

_IMPORT_PROBE = """
import sys, time
sys.path[:0] = {paths!r}
t0 = time.perf_counter()
import handler
print((time.perf_counter() - t0) * 1000)
"""


def _unpack(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
    return into


def _strip_bytecode(tree: Path) -> None:
    for cache in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache)


def _import_ms(paths: list[str]) -> float:
    # -I -S: nothing from the build machine's site-packages; -B: a pyc-less run stays pyc-less, like
    # a read-only /var/task.
    return float(_run([sys.executable, "-I", "-S", "-B", "-c", _IMPORT_PROBE.format(paths=paths)]).strip())


def measure_cold_start(zips: Sequence[Path], runs: int = 9) -> str:
    """Median `import handler` time in fresh interpreters from the unpacked zips, with and without pyc.

    Pass the function zip alone, or the handler zip and the layer zip (in that order). The two cases
    alternate run by run, so a busy machine slows both alike.
    """
    _check_interpreter()
    with tempfile.TemporaryDirectory(prefix="aiotheory-coldstart-") as tmp:
        cases: dict[str, list[str]] = {"pyc": [], "source": []}
        for case, paths in cases.items():
            for i, zip_path in enumerate(zips):
                tree = _unpack(zip_path, Path(tmp) / case / str(i))
                paths.append(str(tree / "python") if (tree / "python").is_dir() else str(tree))
                if case == "source":
                    _strip_bytecode(tree)
        times: dict[str, list[float]] = {case: [] for case in cases}
        for _ in range(runs):
            for case, paths in cases.items():
                times[case].append(_import_ms(paths))
    with_pyc, without = (statistics.median(times[case]) for case in cases)
    names = " + ".join(z.name for z in zips)
    return (
        f"import handler from {names}, median of {runs} fresh interpreters each:\n"
        f"  shipped pyc:                  {with_pyc:7.1f} ms\n"
        f"  no pyc (read-only code dir):  {without:7.1f} ms  (+{without - with_pyc:.0f} ms, "
        f"{without / with_pyc:.1f}x)"
    )


# --------------------------------------------------------------------------------------------- CLI


def output_paths(handler_dir: Path, dist: Path = _DIST) -> tuple[Path, Path]:
    """The default (function zip, handler zip) for `handler_dir`: named after the directory.

    A leading "lambda_" is dropped, so examples/lambda_payments keeps its payments-*.zip names.
    """
    name = handler_dir.resolve().name.removeprefix("lambda_") or handler_dir.resolve().name
    return dist / f"{name}-function.zip", dist / f"{name}-handler.zip"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    layer = sub.add_parser("layer", help="build the aiotheory layer zip")
    layer.add_argument("--out", type=Path, default=_DIST / "aiotheory-layer.zip")
    package = sub.add_parser("package", help="build the function zips")
    package.add_argument("--handler-dir", type=Path, default=_ROOT / "examples" / "lambda_payments")
    package.add_argument(
        "--out", type=Path, help="the self-contained zip (default: dist/<handler dir>-function.zip)"
    )
    package.add_argument(
        "--handler-out", type=Path, help="the code-only zip (default: dist/<handler dir>-handler.zip)"
    )
    cold = sub.add_parser("coldstart", help="measure the handler's import with and without pyc")
    cold.add_argument("zips", type=Path, nargs="+")
    cold.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)

    if args.command == "coldstart":
        print(measure_cold_start(args.zips, args.runs))
        return 0
    with tempfile.TemporaryDirectory(prefix="aiotheory-stage-") as tmp:
        runtime = stage_runtime(Path(tmp))
        if args.command == "layer":
            print(format_report(build_layer(runtime, args.out)))
        else:
            function_out, handler_out = output_paths(args.handler_dir)
            base = function_base(runtime, Path(tmp) / "function-base")
            print(format_report(build_function(base, args.handler_dir, args.out or function_out)))
            print(format_report(build_handler_zip(args.handler_dir, args.handler_out or handler_out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
