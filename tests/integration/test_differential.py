"""Differential test: the engine evaluates generated condition trees as Query filters over generated items,
and an independent evaluator written here (plain Python over the stored AttributeValues) must agree.

The evaluator encodes DynamoDB's documented semantics: comparisons need both sides of one type (numbers
compare numerically, strings and binaries by UTF-8 bytes); a missing attribute equals nothing (so `<>`
holds) and orders against nothing; a function of a missing or wrongly typed attribute is false; NOT, AND
and OR are two-valued. Hypothesis sizes come from a settings profile keyed on
the backend: a short run on moto, >= 1,000 trees per transport on DynamoDB Local.
"""

from __future__ import annotations

import operator
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Final

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from aiotheory import PK, SK, Model
from aiotheory.expr import Attr, Condition
from aiotheory.model import schema_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiotheory import DB
    from aiotheory.testing._plugin import MakeTable

TREES_PER_EXAMPLE: Final = 20
_COMMON: Final[dict[str, Any]] = {
    "deadline": None,
    "database": None,
    "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("aiotheory-differential-moto", max_examples=6, **_COMMON)
# 55 examples x 20 trees = 1,100 trees per transport.
settings.register_profile("aiotheory-differential-ddblocal", max_examples=55, **_COMMON)


class Doc(Model, table="differential"):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    a: int | None = None
    b: str | None = None
    c: set[str] = set()
    d: list[int] | None = None
    e: bool | None = None
    m: dict[str, int] | None = None


# ------------------------------------------------------------------------------------------ generators

_STRINGS: Final = ["a", "ab", "abc", "b", "ba", "B", "é", "😀", "a😀", "zz"]
_str = st.sampled_from(_STRINGS)
_num = st.one_of(st.integers(-3, 3), st.sampled_from([Decimal("1.5"), Decimal("-0.5"), Decimal("100")]))
_scalar = st.one_of(_num, _str)
_PATHS: Final[list[tuple[str | int, ...]]] = [
    ("a",),
    ("b",),
    ("c",),
    ("d",),
    ("d", 0),
    ("d", 2),
    ("e",),
    ("m",),
    ("m", "x"),
    ("m", "y"),
    ("z",),
]
_path = st.sampled_from(_PATHS)

_docs = st.builds(
    dict,
    a=st.one_of(st.none(), st.integers(-3, 3)),
    b=st.one_of(st.none(), _str),
    c=st.sets(st.sampled_from(["a", "ab", "b", "é"]), max_size=3),
    d=st.one_of(st.none(), st.lists(st.integers(-3, 3), max_size=3)),
    e=st.one_of(st.none(), st.booleans()),
    m=st.one_of(st.none(), st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-3, 3), max_size=2)),
)

_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# A spec is the evaluator's own description of a tree: nested tuples, built alongside the Condition.
Spec = tuple[Any, ...]
Leaf = tuple[Condition, Spec]


def _attr(path: tuple[str | int, ...]) -> Attr[Any]:
    attr: Attr[Any] = Attr((path[0],))
    for segment in path[1:]:
        attr = attr[segment]
    return attr


@st.composite
def _compare(draw: st.DrawFn) -> Leaf:
    path, op, value = draw(_path), draw(st.sampled_from(list(_OPS))), draw(_scalar)
    return _OPS[op](_attr(path), value), ("cmp", path, op, value)


@st.composite
def _between(draw: st.DrawFn) -> Leaf:
    path = draw(_path)
    low, high = sorted(
        draw(st.one_of(st.lists(_num, min_size=2, max_size=2), st.lists(_str, min_size=2, max_size=2)))
    )
    return _attr(path).between(low, high), ("between", path, low, high)


@st.composite
def _is_in(draw: st.DrawFn) -> Leaf:
    path, values = draw(_path), draw(st.lists(_scalar, min_size=1, max_size=4))
    return _attr(path).is_in(values), ("in", path, values)


@st.composite
def _function(draw: st.DrawFn) -> Leaf:
    path = draw(_path)
    kind = draw(st.sampled_from(["begins_with", "contains", "exists", "not_exists", "type"]))
    attr = _attr(path)
    if kind == "begins_with":
        prefix = draw(_str)
        return attr.begins_with(prefix), (kind, path, prefix)
    if kind == "contains":
        value = draw(_scalar)
        return attr.contains(value), (kind, path, value)
    if kind == "exists":
        return attr.exists(), (kind, path)
    if kind == "not_exists":
        return attr.not_exists(), (kind, path)
    tag = draw(st.sampled_from(["S", "N", "SS", "L", "M", "BOOL", "NULL"]))
    return attr.attribute_type(tag), (kind, path, tag)


@st.composite
def _size(draw: st.DrawFn) -> Leaf:
    path, op, n = draw(_path), draw(st.sampled_from(list(_OPS))), draw(st.integers(0, 4))
    return _OPS[op](_attr(path).size(), n), ("size", path, op, n)


def _extend(children: st.SearchStrategy[Leaf]) -> st.SearchStrategy[Leaf]:
    pairs = st.tuples(children, children)
    return st.one_of(
        pairs.map(lambda p: (p[0][0] & p[1][0], ("and", p[0][1], p[1][1]))),
        pairs.map(lambda p: (p[0][0] | p[1][0], ("or", p[0][1], p[1][1]))),
        children.map(lambda c: (~c[0], ("not", c[1]))),
    )


_trees = st.recursive(
    st.one_of(_compare(), _between(), _is_in(), _function(), _size()), _extend, max_leaves=6
)

# moto's evaluator is lax where DynamoDB is strict (it answers HTTP 500 when asked to order a set against
# a number, among others), so its run keeps each operand to the type its path holds.
_TYPED: Final = [(("a",), _num), (("m", "x"), _num), (("d", 0), _num), (("b",), _str)]


@st.composite
def _typed_leaf(draw: st.DrawFn) -> Leaf:
    path, values = draw(st.sampled_from(_TYPED))
    kind = draw(st.sampled_from(["cmp", "between", "in", "exists", "not_exists"]))
    attr = _attr(path)
    if kind == "cmp":
        op, value = draw(st.sampled_from(list(_OPS))), draw(values)
        return _OPS[op](attr, value), ("cmp", path, op, value)
    if kind == "between":
        low, high = sorted(draw(st.lists(values, min_size=2, max_size=2)))
        return attr.between(low, high), ("between", path, low, high)
    if kind == "in":
        options = draw(st.lists(values, min_size=1, max_size=4))
        return attr.is_in(options), ("in", path, options)
    return (attr.exists(), (kind, path)) if kind == "exists" else (attr.not_exists(), (kind, path))


_moto_trees = st.recursive(_typed_leaf(), _extend, max_leaves=4)


# ------------------------------------------------------------------------------------------ the evaluator


def _resolve(item: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    av = item.get(path[0])  # type: ignore[call-overload]  # the first segment is always a name
    for segment in path[1:]:
        if av is None:
            return None
        if isinstance(segment, int):
            elements = av.get("L")
            av = elements[segment] if elements is not None and segment < len(elements) else None
        else:
            entries = av.get("M")
            av = None if entries is None else entries.get(segment)
    return av  # type: ignore[no-any-return]  # an AttributeValue dict


def _python(value: object) -> dict[str, Any]:
    """The AttributeValue DynamoDB stores for a python operand (written here, not by our codec)."""
    if isinstance(value, str):
        return {"S": value}
    return {"N": str(value)}


def _orderable(av: dict[str, Any]) -> tuple[str, Any] | None:
    ((tag, raw),) = av.items()
    if tag == "N":
        return tag, Decimal(raw)
    if tag == "S":
        return tag, raw.encode()  # UTF-8 byte order (equal to code point order)
    return None


def _equal(x: dict[str, Any], y: dict[str, Any]) -> bool:
    ((tx, vx),) = x.items()
    ((ty, vy),) = y.items()
    if tx != ty:
        return False
    if tx == "N":
        return bool(Decimal(vx) == Decimal(vy))
    if tx in ("SS", "BS"):
        return set(vx) == set(vy)
    if tx == "NS":
        return {Decimal(v) for v in vx} == {Decimal(v) for v in vy}
    if tx == "L":
        return len(vx) == len(vy) and all(_equal(a, b) for a, b in zip(vx, vy, strict=True))
    if tx == "M":
        return vx.keys() == vy.keys() and all(_equal(vx[k], vy[k]) for k in vx)
    return bool(vx == vy)


def _compare_avs(left: dict[str, Any] | None, op: str, right: dict[str, Any]) -> bool:
    if left is None:
        # Observed on DynamoDB Local: a missing attribute is unequal to every value, ordered against none.
        return op == "<>"
    if op == "=":
        return _equal(left, right)
    if op == "<>":
        return not _equal(left, right)
    lo, ro = _orderable(left), _orderable(right)
    if lo is None or ro is None or lo[0] != ro[0]:
        return False
    return bool(_OPS[op](lo[1], ro[1]))


def _size_of(av: dict[str, Any] | None) -> int | None:
    if av is None:
        return None
    ((tag, raw),) = av.items()
    if tag == "S":
        # Observed on DynamoDB Local (a Java engine): UTF-16 code units, neither bytes nor code points.
        return len(raw.encode("utf-16-le")) // 2
    if tag == "B":
        return len(raw)
    if tag in ("SS", "NS", "BS", "L", "M"):
        return len(raw)
    return None


def _holds(item: dict[str, Any], spec: Spec) -> bool:
    kind = spec[0]
    if kind == "and":
        return _holds(item, spec[1]) and _holds(item, spec[2])
    if kind == "or":
        return _holds(item, spec[1]) or _holds(item, spec[2])
    if kind == "not":
        return not _holds(item, spec[1])
    av = _resolve(item, spec[1])
    if kind == "cmp":
        return _compare_avs(av, spec[2], _python(spec[3]))
    if kind == "between":
        return _compare_avs(av, ">=", _python(spec[2])) and _compare_avs(av, "<=", _python(spec[3]))
    if kind == "in":
        return any(_compare_avs(av, "=", _python(v)) for v in spec[2])
    if kind == "exists":
        return av is not None
    if kind == "not_exists":
        return av is None
    if kind == "type":
        return av is not None and next(iter(av)) == spec[2]
    if kind == "begins_with":
        return av is not None and "S" in av and av["S"].startswith(spec[2])
    if kind == "contains":
        return _contains(av, _python(spec[2]))
    if kind == "size":
        size = _size_of(av)
        # size() of a missing (or unsized) attribute behaves like a missing operand: only <> holds.
        return _compare_avs(None if size is None else {"N": str(size)}, spec[2], {"N": str(spec[3])})
    raise AssertionError(f"unknown spec {kind}")


def _contains(av: dict[str, Any] | None, operand: dict[str, Any]) -> bool:
    if av is None:
        return False
    ((tag, raw),) = av.items()
    ((otag, oraw),) = operand.items()
    if tag == "S":
        return otag == "S" and oraw in raw
    if tag == "SS":
        return otag == "S" and oraw in raw
    if tag == "NS":
        return otag == "N" and Decimal(oraw) in {Decimal(v) for v in raw}
    if tag == "L":
        return any(_equal(element, operand) for element in raw)
    return False


# ------------------------------------------------------------------------------------------ the tests

_evaluated: dict[str, int] = {}


async def _check(db: DB, docs: list[dict[str, Any]], trees: list[Leaf], tally: str) -> None:
    partition = uuid.uuid4().hex
    models = [Doc(pk=partition, sk=i, **fields) for i, fields in enumerate(docs)]
    await db.batch_write(put=models)
    stored = [schema_of(Doc).encode(model) for model in models]
    query = db.query(Doc).key(Doc.pk == partition).project(Doc.sk)
    for condition, spec in trees:
        expected = [i for i, item in enumerate(stored) if _holds(item, spec)]
        got = [doc.sk async for doc in query.filter(condition)]
        if got != expected:
            differ = [stored[i] for i in sorted(set(got) ^ set(expected))]
            pytest.fail(f"engine and evaluator disagree on {condition.debug(show_values=True)} for {differ}")
        _evaluated[tally] = _evaluated.get(tally, 0) + 1


@pytest.fixture
async def doc_table(db: DB, make_table: MakeTable) -> DB:
    await make_table(Doc)
    return db


@pytest.mark.moto_only
@settings(settings.get_profile("aiotheory-differential-moto"))
@given(
    docs=st.lists(_docs, min_size=1, max_size=12),
    trees=st.lists(_moto_trees, min_size=TREES_PER_EXAMPLE, max_size=TREES_PER_EXAMPLE),
)
async def test_moto_filters_agree_with_the_evaluator(
    doc_table: DB, transport_name: str, docs: list[dict[str, Any]], trees: list[Leaf]
) -> None:
    await _check(doc_table, docs, trees, f"moto/{transport_name}")


@pytest.mark.ddblocal_only
@settings(settings.get_profile("aiotheory-differential-ddblocal"))
@given(
    docs=st.lists(_docs, min_size=1, max_size=12),
    trees=st.lists(_trees, min_size=TREES_PER_EXAMPLE, max_size=TREES_PER_EXAMPLE),
)
async def test_dynamodb_local_filters_agree_with_the_evaluator(
    doc_table: DB, transport_name: str, docs: list[dict[str, Any]], trees: list[Leaf]
) -> None:
    await _check(doc_table, docs, trees, f"ddblocal/{transport_name}")


def test_evaluator_reads_paths_and_types_as_documented() -> None:
    """The evaluator itself, on hand-checked rows, so a wrong oracle cannot agree with a wrong engine."""
    item = {
        "a": {"N": "2"},
        "b": {"S": "é"},
        "c": {"SS": ["a", "b"]},
        "d": {"L": [{"N": "1"}]},
        "m": {"M": {"x": {"N": "0"}}},
    }
    rows: list[tuple[Spec, bool]] = [
        (("cmp", ("a",), ">", 1), True),
        (("cmp", ("a",), "=", Decimal("2.0")), True),
        (("cmp", ("a",), "<", "x"), False),  # a number is not ordered against a string
        (("cmp", ("a",), "<>", "x"), True),
        (("cmp", ("z",), "<>", 1), True),
        (("cmp", ("z",), "<", 1), False),
        (("between", ("b",), "a", "zz"), False),  # "é" sorts after all of ASCII in UTF-8
        (("between", ("b",), "a", "😀"), True),
        (("in", ("d", 0), [5, 1]), True),
        (("cmp", ("m", "x"), "=", 0), True),
        (("cmp", ("m", "y"), "=", 0), False),
        (("size", ("b",), "=", 1), True),  # one character (two UTF-8 bytes)
        (("size", ("b",), "=", 2), False),
        (("size", ("c",), "=", 2), True),
        (("contains", ("c",), "a"), True),
        (("contains", ("d",), 1), True),
        (("begins_with", ("a",), "2"), False),
        (("type", ("m",), "M"), True),
        (("not", ("exists", ("z",))), True),
        (("or", ("not_exists", ("a",)), ("cmp", ("a",), "=", 2)), True),
    ]
    for spec, want in rows:
        assert _holds(item, spec) is want, spec
