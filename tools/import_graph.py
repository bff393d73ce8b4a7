"""aiotheory's module import graph, read with `ast`, checked against the layer table below.

    python tools/import_graph.py [--dot] [--package PATH]

Three kinds of edge: `module` (executed at import), `lazy` (inside a function: runs on first call) and
`typing` (under `if TYPE_CHECKING:`: never runs). Runtime edges are `module` and `lazy`. Exit status 1
on a runtime cycle, a runtime edge to a higher layer than its source's, or a module with no layer;
each problem is one `VIOLATION ...` line (on stderr with `--dot`), in a stable order. Typing edges are
listed but never fail: an annotation may name an upper layer's type. Importing a submodule also runs
its parent package's `__init__`; those implicit edges are left out. The package is never imported.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["LAYERS", "Edge", "cycles", "layer_of", "main", "read_graph", "upward", "violations"]

EdgeKind = Literal["module", "lazy", "typing"]

#: Layers from the bottom up (DESIGN §2): a module may import its own layer and the layers below it.
#: Each entry is a module name or a package prefix ending in "."; the longest match wins. A module
#: not listed fails the check, so a new module must be placed on purpose.
LAYERS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    # Names every layer shares: exceptions, type aliases and Protocols, the version string.
    ("base", ("errors", "_types", "_version")),
    # Pure data: models, their codec, expressions and the pagination cursor. No I/O, no asyncio.
    (
        "data",
        (
            "model",
            "schema",
            "_rules",
            "_model_markers",
            "_templates",
            "_registry",
            "entities",
            "codec",
            "codec.",
            "expr",
            "expr.",
            "cursor",
            "dms",
            "_dms_models",
            "_dms_spec",
        ),
    ),
    # One request at a time: the wire, credentials, the deadline scope, retries and the one call function.
    (
        "wire",
        (
            "transport",
            "transport.",
            "credentials",
            "credentials.",
            "_assume_role",
            "deadlines",
            "retries",
            "_observe",
            "tracing",
            "_sizing",
            "_call",
            "encryption",
        ),
    ),
    # The seam under the operations: the requester (transport, retries, prefix, clock, hooks) and the
    # write rules (stamps, version guard, create guard, update plan), shared by every operation.
    ("seam", ("_requester", "_writes", "_hooks")),
    # Operations users call: the facade, queries, batches, transactions, tables, partners, streams, Lambda,
    # leases.
    (
        "operations",
        (
            "db",
            "query",
            "_parallel",
            "batch",
            "transact",
            "_tables",
            "accounts",
            "streams",
            "aws_lambda",
            "otel",
            "idempotency",
            "lease",
        ),
    ),
    # The package face (lazy re-exports), the command line and the test kit, which may use everything.
    ("face", ("", "testing", "testing.", "_cli", "__main__")),
)


class Edge:
    """One import statement's edge: `source` imports `target` (module names relative to the package)."""

    __slots__ = ("kind", "line", "source", "target")

    def __init__(self, source: str, target: str, kind: EdgeKind, line: int) -> None:
        self.source = source
        self.target = target
        self.kind = kind
        self.line = line

    def __repr__(self) -> str:
        return f"Edge({self.source!r} -> {self.target!r}, {self.kind}, line {self.line})"


def _module_names(root: Path) -> dict[str, Path]:
    """Module name (relative to the package, "" for its __init__) -> file, for every .py under root."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Collector(ast.NodeVisitor):
    """Walks one module, tracking whether a statement runs at import, in a function, or never."""

    def __init__(self, package: str, module: str, is_package: bool, known: set[str]) -> None:
        self.package = package
        self.module = module
        # A package's __init__ resolves `from . import x` against itself; a module against its parent.
        self.base = module.split(".") if is_package and module else module.split(".")[:-1]
        if not module:
            self.base = []
        self.known = known
        self.edges: list[Edge] = []
        self._function_depth = 0
        self._typing_depth = 0

    def _kind(self) -> EdgeKind:
        if self._typing_depth:
            return "typing"
        return "lazy" if self._function_depth else "module"

    def _add(self, target: str, line: int) -> None:
        if target != self.module:
            self.edges.append(Edge(self.module, target, self._kind(), line))

    def _resolve_absolute(self, dotted: str) -> str | None:
        if dotted == self.package:
            return ""
        if dotted.startswith(self.package + "."):
            return dotted[len(self.package) + 1 :]
        return None

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            target = self._resolve_absolute(alias.name)
            if target is not None:
                self._add(target, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            up = node.level - 1
            if up > len(self.base):
                return
            parts = self.base[: len(self.base) - up] + (node.module.split(".") if node.module else [])
            target: str | None = ".".join(parts)
        else:
            target = self._resolve_absolute(node.module or "")
        if target is None:
            return
        submodules = [
            f"{target}.{alias.name}" if target else alias.name
            for alias in node.names
            if (f"{target}.{alias.name}" if target else alias.name) in self.known
        ]
        # `from . import errors` imports the submodule; `from .errors import X` imports the module.
        if submodules and len(submodules) == len(node.names):
            for sub in submodules:
                self._add(sub, node.lineno)
        else:
            self._add(target, node.lineno)
            for sub in submodules:
                self._add(sub, node.lineno)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._function_depth += 1
        self.generic_visit(node)
        self._function_depth -= 1

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._typing_depth += 1
            for statement in node.body:
                self.visit(statement)
            self._typing_depth -= 1
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)


def read_graph(root: Path) -> tuple[list[str], list[Edge]]:
    """The package's modules and every import edge between them, in file and line order."""
    package = root.name
    modules = _module_names(root)
    known = set(modules)
    edges: list[Edge] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = _Collector(package, name, path.name == "__init__.py", known)
        collector.visit(tree)
        edges.extend(collector.edges)
    return sorted(modules), edges


def layer_of(module: str) -> int | None:
    """Index of the module's layer in LAYERS (longest matching entry), or None if unplaced."""
    best: tuple[int, int] | None = None
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            matched = module.startswith(entry) if entry.endswith(".") else module == entry
            if matched and (best is None or len(entry) > best[1]):
                best = (index, len(entry))
    return None if best is None else best[0]


def _runtime(edges: Sequence[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.kind != "typing":
            graph.setdefault(edge.source, set()).add(edge.target)
    return graph


def cycles(modules: Sequence[str], edges: Sequence[Edge]) -> list[list[str]]:
    """Each strongly connected group of runtime imports with more than one module, sorted (Tarjan)."""
    graph = _runtime(edges)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:  # recursion depth is bounded by the module count (~60)
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            connect(module)
    return sorted(found)


def upward(edges: Sequence[Edge]) -> list[Edge]:
    """Runtime edges whose target sits in a higher layer than their source."""
    out: list[Edge] = []
    for edge in edges:
        if edge.kind == "typing":
            continue
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source is not None and target is not None and target > source:
            out.append(edge)
    return out


def _display(module: str, package: str) -> str:
    return f"{package}.{module}" if module else package


def violations(root: Path) -> list[str]:
    """Every problem as one line: unplaced modules, runtime cycles, upward runtime imports."""
    package = root.name
    modules, edges = read_graph(root)
    lines = [
        f"VIOLATION unplaced {_display(module, package)}: add it to LAYERS"
        for module in modules
        if layer_of(module) is None
    ]
    lines.extend(
        "VIOLATION cycle " + " <-> ".join(_display(m, package) for m in group)
        for group in cycles(modules, edges)
    )
    seen: set[tuple[str, str]] = set()
    for edge in upward(edges):
        if (edge.source, edge.target) in seen:
            continue
        seen.add((edge.source, edge.target))
        source_layer = LAYERS[layer_of(edge.source) or 0][0]
        target_layer = LAYERS[layer_of(edge.target) or 0][0]
        lines.append(
            f"VIOLATION upward {_display(edge.source, package)} ({source_layer}) -> "
            f"{_display(edge.target, package)} ({target_layer}), {edge.kind} import"
        )
    return lines


def _text(root: Path) -> Iterator[str]:
    package = root.name
    modules, edges = read_graph(root)
    for module in modules:
        layer = layer_of(module)
        label = "?" if layer is None else LAYERS[layer][0]
        yield f"{_display(module, package)} [{label}]"
        for kind in ("module", "lazy", "typing"):
            targets = sorted({e.target for e in edges if e.source == module and e.kind == kind})
            if targets:
                yield f"    {kind}: " + ", ".join(_display(t, package) for t in targets)


def _dot(root: Path) -> Iterator[str]:
    package = root.name
    modules, edges = read_graph(root)
    yield f'digraph "{package}" {{'
    yield "  rankdir=BT;"
    for index, (name, _) in enumerate(LAYERS):
        members = [m for m in modules if layer_of(m) == index]
        yield f'  subgraph "cluster_{name}" {{ label="{name}";'
        for module in members:
            yield f'    "{_display(module, package)}";'
        yield "  }"
    styles = {"module": "solid", "lazy": "dashed", "typing": "dotted"}
    drawn: set[tuple[str, str, str]] = set()
    for edge in edges:
        key = (edge.source, edge.target, edge.kind)
        if key in drawn:
            continue
        drawn.add(key)
        source, target = _display(edge.source, package), _display(edge.target, package)
        yield f'  "{source}" -> "{target}" [style={styles[edge.kind]}];'
    yield "}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print Graphviz dot instead of text")
    parser.add_argument(
        "--package",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "aiotheory",
        help="the package directory (default: this checkout's aiotheory/)",
    )
    args = parser.parse_args(argv)
    root: Path = args.package.resolve()
    for line in _dot(root) if args.dot else _text(root):
        print(line)
    problems = violations(root)
    for line in problems:
        # Under --dot the problems go to stderr, so stdout stays a valid dot file.
        print(line, file=sys.stderr if args.dot else sys.stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
