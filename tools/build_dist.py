"""Build aiotheory's sdist and wheel into dist/ and check what they ship.

    python tools/build_dist.py [--out dist]

The wheel is built from the sdist (uv's default), so a file missing from the sdist fails the wheel too.
Checks: `py.typed` in both, no tests, no bytecode, one version everywhere (wheel file name, METADATA,
PKG-INFO and `aiotheory.__version__` imported from the unpacked wheel by a fresh interpreter), and no
runtime requirement beyond pydantic and anyio (the AWS SDKs stay behind the `botocore` extra).
This script never imports aiotheory itself.
"""

from __future__ import annotations

import argparse
import email.message
import email.parser
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["RUNTIME_REQUIREMENTS", "build_dist", "check_sdist", "check_wheel", "main"]

# DESIGN §2: runtime = pydantic and anyio; everything else sits behind an extra.
RUNTIME_REQUIREMENTS = frozenset({"pydantic", "anyio"})

_ROOT = Path(__file__).resolve().parent.parent
_TEST_DIRS = frozenset({"tests", "test", "__pycache__"})
_NAME = re.compile(r"^[A-Za-z0-9._-]+")


def _uv() -> str:
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise SystemExit("uv is needed (pip install uv)") from None
        return found
    return str(find_uv_bin())


def build_dist(out_dir: Path, *, root: Path = _ROOT) -> tuple[Path, Path]:
    """Build (wheel, sdist) from `root` into `out_dir`, replacing same-named files."""
    with tempfile.TemporaryDirectory(prefix="aiotheory-dist-") as tmp:
        done = subprocess.run(
            [_uv(), "build", "--out-dir", tmp, str(root)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"uv build failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        wheels = list(Path(tmp).glob("*.whl"))
        sdists = list(Path(tmp).glob("*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            raise SystemExit(
                f"expected one wheel and one sdist, got {sorted(p.name for p in Path(tmp).iterdir())}"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        built = []
        for path in (wheels[0], sdists[0]):
            dest = out_dir / path.name
            dest.unlink(missing_ok=True)
            built.append(Path(shutil.move(path, dest)))
    return built[0], built[1]


def _shape_problems(kind: str, names: Iterable[str], package_root: str) -> list[str]:
    names = list(names)
    problems = []
    if f"{package_root}aiotheory/py.typed" not in names:
        problems.append(f"{kind}: no aiotheory/py.typed")
    if f"{package_root}aiotheory/__init__.py" not in names:
        problems.append(f"{kind}: no aiotheory/__init__.py")
    for name in names:
        parts = PurePosixPath(name).parts
        if _TEST_DIRS.intersection(parts[:-1]) or parts[-1].startswith("test_") or name.endswith(".pyc"):
            problems.append(f"{kind}: ships {name}")
    return problems


def _requirement_problems(kind: str, meta: email.message.Message) -> list[str]:
    problems = []
    for requirement in meta.get_all("Requires-Dist") or []:
        marker = requirement.partition(";")[2]
        if "extra" in marker:
            continue
        match = _NAME.match(requirement)
        name = match[0].lower().replace("_", "-") if match else requirement
        if name not in RUNTIME_REQUIREMENTS:
            problems.append(f"{kind}: unconditional runtime requirement {requirement!r}")
    return problems


def _imported_version(wheel: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="aiotheory-wheel-") as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        probe = f"import sys; sys.path.insert(0, {tmp!r}); import aiotheory; print(aiotheory.__version__)"
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", probe], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            return f"<import failed: {done.stderr.strip()}>"
        return done.stdout.strip()


def check_wheel(wheel: Path) -> list[str]:
    """Problems with a built wheel (empty when it is right)."""
    name_version = wheel.name.split("-")[1]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        problems = _shape_problems("wheel", names, "")
        metadata = [n for n in names if n.endswith(".dist-info/METADATA")]
        if len(metadata) != 1:
            return [*problems, f"wheel: {len(metadata)} METADATA files"]
        meta = email.parser.BytesParser().parsebytes(zf.read(metadata[0]))
    problems += _requirement_problems("wheel", meta)
    if meta["Version"] != name_version:
        problems.append(f"wheel: METADATA version {meta['Version']} != file name version {name_version}")
    imported = _imported_version(wheel)
    if imported != meta["Version"]:
        problems.append(f"wheel: aiotheory.__version__ is {imported}, METADATA says {meta['Version']}")
    return problems


def check_sdist(sdist: Path, version: str) -> list[str]:
    """Problems with a built sdist whose project version should be `version`."""
    base = sdist.name.removesuffix(".tar.gz") + "/"
    with tarfile.open(sdist) as tf:
        names = [m.name for m in tf.getmembers() if m.isfile()]
        problems = _shape_problems("sdist", names, base)
        try:
            pkg_info = tf.extractfile(base + "PKG-INFO")
        except KeyError:
            return [*problems, "sdist: no PKG-INFO"]
        assert pkg_info is not None
        meta = email.parser.BytesParser().parsebytes(pkg_info.read())
    if meta["Version"] != version:
        problems.append(f"sdist: PKG-INFO version {meta['Version']} != wheel version {version}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=_ROOT / "dist")
    args = parser.parse_args(argv)
    wheel, sdist = build_dist(args.out)
    problems = check_wheel(wheel) + check_sdist(sdist, wheel.name.split("-")[1])
    for path in (wheel, sdist):
        print(f"{path}: {path.stat().st_size / 1024:,.1f} KiB")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"aiotheory {wheel.name.split('-')[1]}: py.typed shipped, no tests, one version everywhere")
    return 0


if __name__ == "__main__":
    sys.exit(main())
