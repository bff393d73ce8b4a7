"""Cursor encode/decode: round trips, signing, and every way a cursor can be refused."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotheory import ValidationError
from aiotheory.cursor import decode_cursor, encode_cursor

SECRET = b"0123456789abcdef-secret"
TABLE_KEYS = {"pk": "S", "sk": "N"}
GSI_KEYS = {"pk": "S", "sk": "N", "status": "S"}
TABLE = "dev-payments"


def _raw(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def _decode(cursor: object, **overrides: object) -> object:
    args: dict[str, object] = {
        "secret": None,
        "index": None,
        "sort": "ASC",
        "key_types": TABLE_KEYS,
        "table": TABLE,
    }
    args.update(overrides)
    return decode_cursor(cursor, **args)  # type: ignore[arg-type]  # rows of loosely typed overrides


def _deep(depth: int) -> str:
    """A cursor whose start key value nests `depth` lists deep."""
    text = '{"lastKey":{"pk":' + "[" * depth + "]" * depth + '},"sort":"ASC"}'
    return base64.urlsafe_b64encode(text.encode()).decode()


_names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=12)
_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(min_size=1, max_size=40)),
    st.builds(lambda n: {"N": str(n)}, st.integers(-(10**30), 10**30)),
    st.builds(lambda b: {"B": base64.b64encode(b).decode()}, st.binary(min_size=1, max_size=30)),
)


@given(
    last_key=st.dictionaries(_names, _values, min_size=1, max_size=4),
    index=st.one_of(st.none(), _names),
    sort=st.sampled_from(["ASC", "DESC"]),
    signed=st.booleans(),
)
def test_decode_returns_what_was_encoded_when_round_tripped(
    last_key: dict[str, dict[str, str]], index: str | None, sort: str, signed: bool
) -> None:
    secret = SECRET if signed else None
    cursor = encode_cursor(last_key, index=index, sort=sort, secret=secret, table=TABLE)  # type: ignore[arg-type]
    assert cursor.isascii() and " " not in cursor and "+" not in cursor and "/" not in cursor
    key_types = {name: next(iter(av)) for name, av in last_key.items()}
    decoded = decode_cursor(cursor, secret=secret, index=index, sort=sort, key_types=key_types, table=TABLE)  # type: ignore[arg-type]
    assert decoded.last_key == last_key


def test_encode_sorts_key_names_and_omits_missing_index() -> None:
    cursor = encode_cursor({"sk": {"N": "1"}, "pk": {"S": "a"}}, sort="ASC")
    text = base64.urlsafe_b64decode(cursor).decode()
    assert text == '{"lastKey":{"pk":{"S":"a"},"sk":{"N":"1"}},"sort":"ASC"}'


def test_decode_refuses_tampered_payload_when_signed() -> None:
    cursor = encode_cursor({"pk": {"S": "a"}, "sk": {"N": "1"}}, secret=SECRET, table=TABLE)
    payload, signature = cursor.split(".")
    forged = _raw({"lastKey": {"pk": {"S": "b"}, "sk": {"N": "1"}}, "sort": "ASC"})
    with pytest.raises(ValidationError, match="signature"):
        _decode(f"{forged}.{signature}", secret=SECRET)
    flipped = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    with pytest.raises(ValidationError):
        _decode(f"{flipped}.{signature}", secret=SECRET)
    with pytest.raises(ValidationError, match="signature"):
        _decode(f"{payload}.{signature[:-2]}AA", secret=SECRET)
    with pytest.raises(ValidationError, match="signature"):
        _decode(cursor, secret=b"another-secret-of-16+")
    assert _decode(cursor, secret=SECRET) is not None


def test_decode_refuses_unsigned_cursor_when_a_secret_is_set() -> None:
    cursor = encode_cursor({"pk": {"S": "a"}, "sk": {"N": "1"}})
    with pytest.raises(ValidationError, match="not signed"):
        _decode(cursor, secret=SECRET)


def test_decode_refuses_signed_cursor_when_no_secret_is_set() -> None:
    cursor = encode_cursor({"pk": {"S": "a"}, "sk": {"N": "1"}}, secret=SECRET, table=TABLE)
    with pytest.raises(ValidationError, match="no cursor secret"):
        _decode(cursor)


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("", "non-empty"),
        (123, "non-empty"),
        ("not base64!", "base64url"),
        ("e30", "no start key"),  # '{}' without its padding: read leniently, then refused
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), "decode"),
        (_raw([1, 2]), "object"),
        (_raw({"lastKey": {}, "sort": "ASC"}), "no start key"),
        (_raw({"lastKey": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "sort": "UP"}), "neither"),
        (_raw({"lastKey": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "sort": "ASC", "x": 1}), "unknown"),
        (_raw({"lastKey": {"pk": {"S": "a"}}, "sort": "ASC"}), "keys are"),
        (_raw({"lastKey": {"pk": {"S": "a"}, "sk": {"S": "1"}}, "sort": "ASC"}), "is a S"),
        (_raw({"lastKey": {"pk": {"S": "a"}, "sk": {"N": "one"}}, "sort": "ASC"}), "not a number"),
        (_raw({"lastKey": {"pk": {"S": ""}, "sk": {"N": "1"}}, "sort": "ASC"}), "empty"),
        (_raw({"lastKey": {"pk": {"S": "a", "N": "1"}, "sk": {"N": "1"}}, "sort": "ASC"}), "AttributeValue"),
        (_raw({"lastKey": {"pk": {"SS": ["a"]}, "sk": {"N": "1"}}, "sort": "ASC"}), "deeper"),
        ("A" * 20_000, "too long"),
        # Deep nesting within the 16 KB cap: json.loads alone raises RecursionError on it.
        (_deep(6_000), "deeper"),
        (_deep(4), "deeper"),
        (_raw({"lastKey": {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": [[]]}, "sort": "ASC"}), "deeper"),
        (_raw({"lastKey": {"pk": {"S": "\ud800"}, "sk": {"N": "1"}}, "sort": "ASC"}), "not valid Unicode"),
    ],
)
def test_decode_refuses_malformed_cursor(cursor: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _decode(cursor)


def test_decode_refuses_cursor_of_another_index_or_order() -> None:
    on_gsi = encode_cursor({"pk": {"S": "a"}, "sk": {"N": "1"}, "status": {"S": "x"}}, index="by-status")
    with pytest.raises(ValidationError, match="index 'by-status', not the table"):
        _decode(on_gsi, key_types=GSI_KEYS)
    with pytest.raises(ValidationError, match="not index 'other'"):
        _decode(on_gsi, index="other", key_types=GSI_KEYS)
    assert _decode(on_gsi, index="by-status", key_types=GSI_KEYS) is not None
    descending = encode_cursor({"pk": {"S": "a"}, "sk": {"N": "1"}}, sort="DESC")
    with pytest.raises(ValidationError, match="DESC query, not ASC"):
        _decode(descending)


def test_decode_refuses_binary_that_is_not_base64() -> None:
    cursor = _raw({"lastKey": {"pk": {"B": "@@@"}}, "sort": "ASC"})
    with pytest.raises(ValidationError, match="base64"):
        _decode(cursor, key_types={"pk": "B"})


def test_error_messages_never_echo_the_cursor() -> None:
    secret_value = "card-4111111111111111"
    cursor = _raw({"lastKey": {"pk": {"S": secret_value}}, "sort": "ASC"})
    with pytest.raises(ValidationError) as info:
        _decode(cursor)
    assert secret_value not in str(info.value)
    assert cursor not in str(info.value)


def test_decode_accepts_brackets_inside_strings_when_nesting_is_counted() -> None:
    last_key = {"pk": {"S": '[[[[{{{{"\\'}, "sk": {"N": "1"}}
    assert _decode(encode_cursor(last_key)) is not None


@pytest.mark.parametrize(
    "where",
    [{"table": "prod-payments"}, {"operation": "Scan"}, {"index": "by-status", "key_types": TABLE_KEYS}],
)
def test_decode_refuses_signed_cursor_when_made_for_another_read(where: dict[str, object]) -> None:
    last_key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    cursor = encode_cursor(last_key, secret=SECRET, table=TABLE, operation="Query")
    assert _decode(cursor, secret=SECRET, operation="Query") is not None
    with pytest.raises(ValidationError, match="signature"):
        _decode(cursor, secret=SECRET, **where)


def test_encode_refuses_to_sign_when_no_table_is_given() -> None:
    with pytest.raises(ValidationError, match="table="):
        encode_cursor({"pk": {"S": "a"}}, secret=SECRET)
