"""Every ```python sample in README.md and docs/*.md runs, in order, against the test engine.

Per page, the samples share one module namespace (a later sample uses an earlier one's classes) and may
`await` at top level. The namespace starts with `db`, a DB on the engine with a table prefix of the
page's own; the environment points any `DB(...)` a sample builds at the same engine (endpoint, test
keys, region, `AIOTHEORY_TABLE_PREFIX`), as a Lambda's environment would. What a sample's first line may
say (docs/testing.md explains them to readers):

    # doc: subprocess           run alone in a fresh `python` with that environment; must exit 0
    # doc: pytest               a test module: run by a fresh `pytest -p aiotheory.testing`; must pass
    # doc: no-run (reason)      shown, never run; the reason is required

and `<!-- doc: moto-only (reason) -->` on a line of its own skips the page on other engines.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import traceback
import types
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import pytest

if TYPE_CHECKING:
    from aiotheory.testing import Backend

__all__ = ["Sample", "find_samples", "page_options"]

ROOT: Final = Path(__file__).resolve().parents[2]
#: The pages whose samples run: the README and every page under docs/, whoever wrote it.
PAGES: Final = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
#: A subprocess sample (a Lambda handler, a script) gets this long before the test fails.
SUBPROCESS_TIMEOUT: Final = 60.0

_FENCE: Final = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
_MARKER: Final = re.compile(r"^#\s*doc:\s*(?P<mode>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*$")
# On a line of its own, so prose that quotes the marker (docs/testing.md) is not taken for one.
_PAGE_MARKER: Final = re.compile(
    r"^[ \t]*<!--\s*doc:\s*(?P<mode>[\w-]+)\s*(?:\((?P<reason>[^)]*)\))?\s*-->[ \t]*$", re.MULTILINE
)
_PYTHON: Final = frozenset({"python", "py", "python3"})

Mode = Literal["run", "subprocess", "pytest", "no-run"]
#: What a project using the kit puts in its pytest configuration (docs/testing.md shows it).
_PYTEST_OPTIONS: Final = (
    "-p",
    "aiotheory.testing",
    "-p",
    "no:cacheprovider",
    "-q",
    "-o",
    "asyncio_mode=auto",
    "-o",
    "asyncio_default_fixture_loop_scope=session",
    "-o",
    "asyncio_default_test_loop_scope=session",
    "-W",
    "error",
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One fenced python block: where it starts (1-based line of its first code line) and how it runs."""

    path: Path
    line: int
    source: str
    mode: Mode
    reason: str = ""

    @property
    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def find_samples(text: str, path: Path) -> list[Sample]:
    """The page's python blocks in order; a malformed marker or an unclosed fence raises ValueError."""
    lines = text.splitlines()
    samples: list[Sample] = []
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        indent, fence, info = opened["indent"], opened["fence"], opened["info"].lower()
        start = i + 1
        j = start
        while j < len(lines):
            closing = lines[j].strip()
            if closing.startswith(fence[0] * len(fence)) and set(closing) == {fence[0]}:
                break
            j += 1
        else:
            raise ValueError(f"{_shown(path)}:{i + 1}: the {fence} fence is never closed")
        if info in _PYTHON:
            body = [ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[start:j]]
            samples.append(_sample(path, start + 1, "\n".join(body) + "\n"))
        i = j + 1
    return samples


def _sample(path: Path, line: int, source: str) -> Sample:
    first = source.lstrip("\n").split("\n", 1)[0].strip()
    if not first.startswith("#") or not re.match(r"#\s*doc:", first):
        return Sample(path, line, source, "run")
    marker = _MARKER.match(first)
    if marker is None or marker["mode"] not in ("subprocess", "pytest", "no-run"):
        raise ValueError(f"{_shown(path)}:{line}: unknown sample marker {first!r}")
    reason = (marker["reason"] or "").strip()
    if marker["mode"] == "no-run" and not reason:
        raise ValueError(f"{_shown(path)}:{line}: '# doc: no-run' needs its reason: # doc: no-run (why)")
    modes: dict[str, Mode] = {"subprocess": "subprocess", "pytest": "pytest", "no-run": "no-run"}
    return Sample(path, line, source, modes[marker["mode"]], reason)


def page_options(text: str) -> dict[str, str]:
    """Page-wide markers, e.g. {"moto-only": "STS AssumeRole"}; a moto-only page must say why."""
    found = {m["mode"]: (m["reason"] or "").strip() for m in _PAGE_MARKER.finditer(text)}
    for mode, reason in found.items():
        if mode != "moto-only":
            raise ValueError(f"unknown page marker 'doc: {mode}'")
        if not reason:
            raise ValueError("'doc: moto-only' needs its reason: <!-- doc: moto-only (why) -->")
    return found


def _environment(backend: Backend, prefix: str) -> dict[str, str]:
    """What a deployed function's environment would hold, aimed at the test engine."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": backend.endpoint_url,
        "AWS_ENDPOINT_URL_STS": backend.endpoint_url,
        "AWS_ACCESS_KEY_ID": backend.access_key,
        "AWS_SECRET_ACCESS_KEY": backend.secret_key,
        "AWS_REGION": backend.region,
        "AWS_DEFAULT_REGION": backend.region,
        "AIOTHEORY_TABLE_PREFIX": prefix,
    }


async def _run_in_namespace(sample: Sample, namespace: dict[str, object]) -> None:
    # Padding keeps tracebacks on the page's own line numbers.
    padded = "\n" * (sample.line - 1) + sample.source
    try:
        code = compile(padded, _shown(sample.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # the docs' own samples: running them is the point
        if inspect.iscoroutine(result):
            await result
    except Exception as exc:
        hint = ""
        if isinstance(exc, RuntimeError) and "running event loop" in str(exc):
            # asyncio.run / @lambda_handler start their own loop: the page's loop is already running.
            hint = " (a sample that starts its own event loop needs `# doc: subprocess` on its first line)"
        raise AssertionError(f"{sample.where}: the sample raised {type(exc).__name__}: {exc}{hint}") from exc


async def _run_in_subprocess(sample: Sample, env: dict[str, str], workdir: Path) -> None:
    """A script under `python`, or a test module under a fresh pytest (which starts its own moto)."""
    script = workdir / f"sample_line_{sample.line}.py"
    if sample.mode == "pytest":
        script = workdir / f"test_sample_line_{sample.line}.py"
    await asyncio.to_thread(script.write_text, "\n" * (sample.line - 1) + sample.source)
    command = [sys.executable, str(script)]
    if sample.mode == "pytest":
        # One engine and one transport keep this subprocess to a few seconds; the suite covers the rest.
        options = ("--backend=moto", "--transport=lean")
        command = [sys.executable, "-m", "pytest", *_PYTEST_OPTIONS, *options, script.name]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIOTHEORY_", "PYTEST_"))}
    environ.update(env)
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=workdir,
        env=environ,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{sample.where}: the {sample.mode} sample exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )


async def _close_all(namespace: dict[str, object], seeded: object) -> None:
    """Close every DB and Accounts a page left open, so no socket outlives its test."""
    from aiotheory import DB, Accounts

    seen: set[int] = set()
    for value in [*namespace.values(), seeded]:
        if isinstance(value, DB | Accounts) and id(value) not in seen:
            seen.add(id(value))
            await value.close()


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("page", PAGES, ids=[_shown(p) for p in PAGES])
async def test_doc_page_samples_run(
    page: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from aiotheory import DB

    text = await asyncio.to_thread(page.read_text)
    options = page_options(text)
    if "moto-only" in options and backend.name != "moto":
        pytest.skip(f"{_shown(page)} needs moto: {options['moto-only']}")
    samples = find_samples(text, page)
    prefix = f"doc{uuid.uuid4().hex[:6]}_"
    env = _environment(backend, prefix)
    for name in [k for k in os.environ if k.startswith(("AWS_", "AIOTHEORY_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = types.ModuleType("docsample_" + re.sub(r"\W", "_", _shown(page)))
    seeded = DB(
        region=backend.region,
        endpoint_url=backend.endpoint_url,
        credentials=backend.credentials,
        table_prefix=prefix,
    )
    namespace = module.__dict__
    namespace["db"] = seeded
    # pydantic resolves a model's annotations through sys.modules[cls.__module__].
    sys.modules[module.__name__] = module
    try:
        for sample in samples:
            if sample.mode == "run":
                await _run_in_namespace(sample, namespace)
            elif sample.mode in ("subprocess", "pytest"):
                await _run_in_subprocess(sample, env, tmp_path)
    finally:
        sys.modules.pop(module.__name__, None)
        await _close_all(namespace, seeded)


# ------------------------------------------------------------------------------------------ the runner itself

_PAGE: Final = """\
# Title

```python
x = 1
```

- a list item

  ```python
  y = x + 1
  ```

```sh
not python
```

````python
# doc: subprocess
print("alone")
````

```py
# doc: no-run (needs an AWS profile)
boom()
```
"""


def test_find_samples_reads_blocks_in_order_with_lines_and_markers() -> None:
    samples = find_samples(_PAGE, Path("page.md"))
    assert [(s.line, s.mode, s.reason) for s in samples] == [
        (4, "run", ""),
        (10, "run", ""),
        (18, "subprocess", ""),
        (23, "no-run", "needs an AWS profile"),
    ]
    assert samples[1].source == "y = x + 1\n"  # the list item's indentation is removed


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("```python\n# doc: no-run\nx\n```\n", "needs its reason"),
        ("```python\n# doc: skip (why)\nx\n```\n", "unknown sample marker"),
        ("```python\nx = 1\n", "never closed"),
    ],
)
def test_find_samples_refuses_when_a_marker_or_fence_is_malformed(page: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_samples(page, Path("page.md"))


def test_page_options_requires_a_reason_for_moto_only() -> None:
    assert page_options("<!-- doc: moto-only (STS AssumeRole) -->") == {"moto-only": "STS AssumeRole"}
    assert page_options("quoted in prose: `<!-- doc: moto-only (why) -->` is not a marker") == {}
    with pytest.raises(ValueError, match="needs its reason"):
        page_options("<!-- doc: moto-only -->")


async def test_namespace_runner_reports_the_page_line_when_a_sample_fails() -> None:
    sample = Sample(Path("docs/x.md"), 7, "import asyncio\nawait asyncio.sleep(0)\n1 / 0\n", "run")
    with pytest.raises(AssertionError, match=r"docs/x.md:7: the sample raised ZeroDivisionError") as info:
        await _run_in_namespace(sample, {})
    cause = info.value.__cause__
    assert cause is not None
    assert traceback.extract_tb(cause.__traceback__)[-1].lineno == 9  # the page's line of `1 / 0`


async def test_subprocess_runner_fails_when_the_sample_fails(tmp_path: Path) -> None:
    # `# doc: pytest` samples share this path; the page that uses one (docs/testing.md) proves it passes.
    sample = Sample(Path("docs/x.md"), 5, "raise SystemExit(3)\n", "subprocess")
    with pytest.raises(AssertionError, match=r"docs/x.md:5: the subprocess sample exited 3"):
        await _run_in_subprocess(sample, {}, tmp_path)
