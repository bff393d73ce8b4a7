"""TableTheory's encoding contract and golden cursor: our `item_format="tabletheory"` writes its items.

The cases in data/tabletheory/encoding.json restate TableTheory's P0 scenarios, its DMS models and its
encoding tests as AttributeValue JSON; the cursor files are TableTheory's golden files, byte for byte.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pytest

from aiotheory.cursor import decode_cursor, encode_cursor
from aiotheory.model import (
    GSI,
    PK,
    SK,
    TTL,
    CreatedAt,
    JSONString,
    Model,
    OmitEmpty,
    RFC3339Nano,
    UpdatedAt,
    Version,
    schema_of,
)

_DIR = Path(__file__).parent / "data" / "tabletheory"
_CASES: list[dict[str, Any]] = json.loads((_DIR / "encoding.json").read_text(encoding="utf-8"))["cases"]


class User(Model, table="users_contract", naming="camelCase", item_format="tabletheory"):
    """contract-tests/dms/v0.1/models/user.yml, spelled as the DMS engineer generates it."""

    PK: Annotated[str, PK]
    SK: Annotated[str, SK]
    email_hash: Annotated[str | None, GSI("gsi-email")] = None
    nickname: Annotated[str | None, OmitEmpty] = None
    tags: Annotated[set[str] | None, OmitEmpty] = None
    created_at: Annotated[datetime | None, CreatedAt, RFC3339Nano] = None
    updated_at: Annotated[datetime | None, UpdatedAt, RFC3339Nano] = None
    version: Annotated[int, Version] = 0
    ttl: Annotated[int | None, TTL, OmitEmpty] = None


class SetThing(Model, table="sets_contract", item_format="tabletheory"):
    PK: Annotated[str, PK]
    SK: Annotated[str, SK]
    tags: set[str] = set()
    payload: Annotated[dict[str, Any] | None, JSONString] = None


_MODELS: dict[str, type[Model]] = {"User": User, "SetThing": SetThing}


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_encode_writes_tabletheory_item_when_model_uses_its_format(case: dict[str, Any]) -> None:
    model = _MODELS[case["model"]]
    obj = model.model_validate(case["values"])
    assert schema_of(model).encode(obj) == case["item"]


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_decode_reads_tabletheory_item_back_when_model_uses_its_format(case: dict[str, Any]) -> None:
    model = _MODELS[case["model"]]
    # An omitted optional field reads back as its default (None), as TableTheory's optional attributes do.
    expected = model.model_validate({**case["values"], **case.get("reads_back", {})})
    assert schema_of(model).decode(case["item"]) == expected


def test_encode_cursor_reproduces_tabletheory_golden_bytes_when_given_its_document() -> None:
    golden = (_DIR / "cursor_v0.1_basic.cursor").read_text(encoding="utf-8").strip()
    document = (_DIR / "cursor_v0.1_basic.json").read_text(encoding="utf-8").strip()
    assert base64.urlsafe_b64decode(golden + "=" * (-len(golden) % 4)).decode() == document
    payload = json.loads(document)
    assert encode_cursor(payload["lastKey"], index=payload["index"], sort=payload["sort"]) == golden


def test_decode_cursor_reads_tabletheory_golden_key_when_given_its_bytes() -> None:
    golden = (_DIR / "cursor_v0.1_basic.cursor").read_text(encoding="utf-8").strip()
    payload = json.loads((_DIR / "cursor_v0.1_basic.json").read_text(encoding="utf-8"))
    decoded = decode_cursor(
        golden, index=payload["index"], sort=payload["sort"], key_types={"PK": "S", "SK": "S"}
    )
    assert decoded.last_key == payload["lastKey"]
