"""Cursor bytes are a cross-language contract: the encoder must reproduce every golden cursor exactly."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from aiotheory.cursor import decode_cursor, encode_cursor

_DATA = json.loads((Path(__file__).parent / "data" / "cursors.json").read_text(encoding="utf-8"))
_CASES: list[dict[str, Any]] = _DATA["cases"]

#: A GSI cursor written out by hand from the format (not produced by our encoder).
_HAND_WRITTEN = (
    "eyJsYXN0S2V5Ijp7IlBLIjp7IlMiOiJVU0VSIzEifSwiU0siOnsiUyI6IlBST0ZJTEUifX0sImluZGV4Ijoi"
    "Z3NpLWVtYWlsIiwic29ydCI6IkFTQyJ9"
)


def _secret(case: dict[str, Any]) -> bytes | None:
    secret = case.get("secret")
    return None if secret is None else str(secret).encode()


def test_encode_matches_the_hand_written_cursor_when_given_its_key() -> None:
    last_key = {"SK": {"S": "PROFILE"}, "PK": {"S": "USER#1"}}  # unsorted on purpose
    assert encode_cursor(last_key, index="gsi-email", sort="ASC") == _HAND_WRITTEN


def test_encode_matches_hand_built_bytes_when_table_has_no_index() -> None:
    document = '{"lastKey":{"a":{"N":"1"},"b":{"S":"x"}},"sort":"DESC"}'
    expected = base64.urlsafe_b64encode(document.encode()).decode()
    assert expected.endswith("=")  # the convention keeps the padding
    assert encode_cursor({"b": {"S": "x"}, "a": {"N": "1"}}, sort="DESC") == expected


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_encode_reproduces_golden_bytes(case: dict[str, Any]) -> None:
    got = encode_cursor(
        case["lastKey"],
        index=case.get("index"),
        sort=case["sort"],
        secret=_secret(case),
        table=case.get("table"),
        operation=case.get("operation", "Query"),
    )
    assert got == case["cursor"]


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_decode_reads_golden_cursor_back(case: dict[str, Any]) -> None:
    key_types = {name: next(iter(av)) for name, av in case["lastKey"].items()}
    decoded = decode_cursor(
        case["cursor"],
        secret=_secret(case),
        index=case.get("index"),
        sort=case["sort"],
        key_types=key_types,
        table=case.get("table"),
        operation=case.get("operation", "Query"),
    )
    assert decoded.last_key == case["lastKey"]
