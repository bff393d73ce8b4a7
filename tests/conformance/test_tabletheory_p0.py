"""TableTheory's P0 contract scenarios, run through aiotheory's public API on models built from TT's DMS.

The scenario and DMS files are TableTheory's own (data/tabletheory/, see the README there). Each step is
what TT's TypeScript runner does (`contract-tests/runners/ts/src/runner.ts`): create / get / update /
delete through the ORM, expectations on the decoded item and on the raw item a plain GetItem returns.
A `sleep` step advances the DB's injected clock instead of sleeping. Runs on moto by default and on
DynamoDB Local with `--backend=ddblocal`; each scenario is one test, so the summary is the P0 report.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from aiotheory import AiotheoryError, ConditionFailed, ItemNotFound, dms

if TYPE_CHECKING:
    from aiotheory import DB, Model

_DATA = Path(__file__).parent / "data" / "tabletheory"
_DOCUMENTS = [dms.load(_DATA / name) for name in ("user.yml", "order.yml")]
_SPECS = {spec.name: spec for doc in _DOCUMENTS for spec in doc.models}
_MODELS = {name: dms.model_from_dms(spec, module=__name__) for name, spec in _SPECS.items()}
_SCENARIOS = sorted(_DATA.glob("[0-9][0-9]-*.yml"))
_SCENARIO_DATA = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in _SCENARIOS}

#: TT's error codes (the runner's `ErrorCode`) for the errors aiotheory raises.
_ERROR_CODES: dict[type[AiotheoryError], str] = {
    ConditionFailed: "ErrConditionFailed",
    ItemNotFound: "ErrItemNotFound",
}

#: Scenarios whose expectation aiotheory does not meet on purpose: file name -> reason (docs/dms.md).
_DIFFERS_ON_PURPOSE: dict[str, str] = {}


class _Clock:
    """The DB's clock: still until a `sleep` step moves it, so lifecycle stamps are deterministic."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class _Run:
    """One scenario against one DB: the model, the variables `save` keeps, and the step interpreter."""

    def __init__(self, db: DB, model: type[Model], spec: dms.ModelSpec, clock: _Clock) -> None:
        self.db = db
        self.model = model
        self.spec = spec
        self.clock = clock
        self.fields = dms.field_names(model)  # stored attribute -> field name
        self.vars: dict[str, object] = {}

    def instance(self, item: dict[str, Any]) -> Model:
        return self.model(**{self.fields[name]: value for name, value in item.items()})

    def key(self, key: dict[str, Any]) -> tuple[object, ...]:
        parts = [key[self.spec.partition.attribute]]
        if self.spec.sort is not None:
            parts.append(key[self.spec.sort.attribute])
        return tuple(parts)

    async def raw_item(self, key: dict[str, Any]) -> dict[str, Any]:
        av = {}
        for k in (self.spec.partition, self.spec.sort):
            if k is not None:
                value = key[k.attribute]
                av[k.attribute] = {k.type: value if k.type != "N" else str(value)}
        reply = await self.db.raw(
            "GetItem", {"TableName": self.db.table_name(self.model), "Key": av, "ConsistentRead": True}
        )
        item: dict[str, Any] = reply["Item"]
        return item

    def values(self, obj: Model) -> dict[str, object]:
        """The item as TT's drivers hand it back: attribute name -> value, absent attributes left out."""
        out: dict[str, object] = {}
        for stored, field in self.fields.items():
            value = getattr(obj, field)
            if value is not None:
                out[stored] = value
        return out

    async def step(self, step: dict[str, Any]) -> None:
        op = step["op"]
        if op == "sleep":
            self.clock.now += dt.timedelta(milliseconds=step.get("ms", 0))
            return
        error: AiotheoryError | None = None
        item: dict[str, object] | None = None
        raw: dict[str, Any] | None = None
        try:
            if op == "create":
                obj = self.instance(step.get("item", {}))
                if step.get("if_not_exists"):
                    await self.db.create(obj)
                else:
                    await self.db.put(obj)
            elif op == "update":
                obj = self.instance(step.get("item", {}))
                item_values = step.get("item", {})
                updates = [getattr(self.model, self.fields[a]).set(item_values[a]) for a in step["fields"]]
                await self.db.update(obj, *updates)
            elif op == "delete":
                await self.db.delete(self.model, *self.key(step["key"]))
            elif op == "get":
                got = await self.db.get(self.model, *self.key(step["key"]), consistent=True)
                item = self.values(got)
                raw = await self.raw_item(step["key"])
                for var, attribute in step.get("save", {}).items():
                    self.vars[var] = item.get(attribute)
            else:
                raise AssertionError(f"unsupported op: {op}")
        except AiotheoryError as exc:
            error = exc
        self.check(step.get("expect") or {}, error, item, raw)

    def check(
        self,
        expect: dict[str, Any],
        error: AiotheoryError | None,
        item: dict[str, object] | None,
        raw: dict[str, Any] | None,
    ) -> None:
        if "error" in expect:
            assert error is not None, f"expected {expect['error']}, the step succeeded"
            assert _ERROR_CODES.get(type(error), repr(error)) == expect["error"]
            return
        if "ok" in expect:
            assert (error is None) == bool(expect["ok"]), f"ok={expect['ok']} expected, got {error!r}"
        if error is not None:
            return
        if item is not None:
            for attribute, want in (expect.get("item_contains") or {}).items():
                assert attribute in item, f"missing attribute {attribute}"
                _assert_value(self.spec.attribute(attribute).type, want, item[attribute])
            for attribute in expect.get("item_has_fields") or []:
                assert attribute in item, f"expected attribute {attribute}"
            for attribute, var in (expect.get("item_field_equals_var") or {}).items():
                assert item.get(attribute) == self.vars[var]
            for attribute, var in (expect.get("item_field_not_equals_var") or {}).items():
                assert item.get(attribute) != self.vars[var]
        if raw is not None:
            for attribute in expect.get("item_missing_fields") or []:
                assert attribute not in raw, f"expected no stored {attribute}, found {raw[attribute]}"
            for attribute, tag in (expect.get("raw_attribute_types") or {}).items():
                assert attribute in raw, f"expected stored {attribute}"
                assert next(iter(raw[attribute])) == tag


def _assert_value(dms_type: str, want: object, have: object) -> None:
    # TT's runner compares by DMS type: S as text, N as a number, sets order-insensitively.
    if dms_type == "S":
        assert str(have) == str(want)
    elif dms_type == "N":
        assert Decimal(str(have)) == Decimal(str(want))
    elif dms_type in ("SS", "NS", "BS"):
        assert sorted(map(str, have)) == sorted(map(str, want))  # type: ignore[call-overload]  # sets
    else:
        assert have == want


def _scenario_params() -> list[Any]:
    params = []
    for path in _SCENARIOS:
        reason = _DIFFERS_ON_PURPOSE.get(path.name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


@pytest.mark.parametrize("path", _scenario_params())
async def test_tabletheory_p0_scenario_passes_when_run_through_the_public_api(
    db: DB, make_table: Any, path: Path
) -> None:
    scenario = _SCENARIO_DATA[path.name]
    assert scenario["dms_version"] == dms.VERSION
    spec = _SPECS[scenario["model"]]
    assert scenario.get("table", {}).get("name", spec.table) == spec.table
    model = _MODELS[spec.name]
    clock = _Clock()
    await make_table(model)
    run = _Run(db.derive(clock=clock), model, spec, clock)
    try:
        for step in scenario["steps"]:
            await run.step(step)
    finally:
        await run.db.close()


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_model_from_dms_is_equivalent_when_built_from_tabletheory_models(name: str) -> None:
    dms.assert_equivalent(_MODELS[name], _SPECS[name])
