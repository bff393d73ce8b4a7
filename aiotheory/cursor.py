"""Page cursors: DynamoDB's LastEvaluatedKey as a url-safe string an HTTP API can hand to its clients.

The format is shared with TableTheory's Go, TS and Python SDKs, so it is byte-stable: base64url (with `=`
padding) of compact JSON `{"lastKey": {...}, "index": "...", "sort": "ASC"|"DESC"}`, keys in that order,
the attribute names inside lastKey sorted, `index` left out when there is none. A signed cursor appends
`.` and the base64url HMAC-SHA256 of the unsigned cursor bound to its read: operation (Query or Scan),
table name as sent (prefix included) and index (see `_mac_input`). Imports only the standard library and
`errors`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from .errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._types import Item

__all__ = [
    "MIN_SECRET",
    "Cursor",
    "ReadOperation",
    "SortOrder",
    "checked_secret",
    "decode_cursor",
    "encode_cursor",
]

SortOrder = Literal["ASC", "DESC"]
#: The read a cursor continues; a signed cursor is only accepted by the same kind of read.
ReadOperation = Literal["Query", "Scan"]

#: One module-level compact encoder. Non-ASCII text is written as raw UTF-8, as Go and JS encoders do.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
#: A DynamoDB number as the wire carries it.
_NUMBER: Final = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+={0,2}")
#: A cursor longer than this is refused before decoding: a start key holds at most four key attributes
#: of at most 2 KB (partition) / 1 KB (sort) each, so honest cursors stay far below.
_MAX_CURSOR: Final = 16 * 1024
_KEY_TYPES: Final = frozenset({"S", "N", "B"})
#: Our documents nest three deep ({"lastKey": {name: {"S": ...}}}). Anything deeper is refused before
#: json.loads, which raises RecursionError on a few thousand nested brackets (a 16 KB cursor holds 12,000).
_MAX_DEPTH: Final = 3
#: JSON strings, escapes included: their brackets do not nest.
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: Every byte but the four brackets, deleted to leave the nesting skeleton.
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
#: Separates the signature of a cursor from any other MAC made with the same secret.
_MAC_DOMAIN: Final = "aiotheory-cursor-v1"
#: HMAC keys shorter than this are refused: a short secret makes forged cursors cheap to find.
MIN_SECRET: Final = 16


def checked_secret(secret: object) -> bytes:
    """A cursor secret as the HMAC key: bytes, or str encoded as UTF-8, of at least `MIN_SECRET` bytes.

    Raises:
        ValidationError: not bytes or str, or too short.
    """
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise ValidationError("a cursor secret is bytes or str")
    if len(secret) < MIN_SECRET:
        raise ValidationError(f"a cursor secret needs at least {MIN_SECRET} bytes")
    return secret


@dataclass(frozen=True, slots=True, kw_only=True)
class Cursor:
    """A decoded cursor: the ExclusiveStartKey to send (its index and order were checked on decoding)."""

    last_key: Item


def encode_cursor(
    last_key: Item,
    *,
    index: str | None = None,
    sort: SortOrder = "ASC",
    secret: bytes | None = None,
    table: str | None = None,
    operation: ReadOperation = "Query",
) -> str:
    """The cursor string for a LastEvaluatedKey; signed when `secret` is given.

    Args:
        table: the table name as sent (prefix included); required with `secret`, since the signature binds
            the cursor to `operation`, `table` and `index`, so it is refused on any other read.
    """
    if secret is not None and table is None:
        raise ValidationError("a signed cursor is bound to its table: pass table=")
    doc: dict[str, object] = {"lastKey": {name: last_key[name] for name in sorted(last_key)}}
    if index is not None:
        doc["index"] = index
    doc["sort"] = sort
    text = base64.urlsafe_b64encode(_ENCODER.encode(doc).encode()).decode("ascii")
    if secret is None or table is None:
        return text
    return text + "." + _signature(secret, _mac_input(text, operation, table, index))


def _mac_input(text: str, operation: str, table: str, index: str | None) -> bytes:
    """What a signature covers: the read it continues, then the unsigned cursor.

    Newline-separated: table and index names cannot hold one (DynamoDB: [a-zA-Z0-9_.-], or an ARN).
    """
    return f"{_MAC_DOMAIN}\n{operation}\n{table}\n{index or ''}\n{text}".encode("utf-8", "replace")


def _signature(secret: bytes, message: bytes) -> str:
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def decode_cursor(
    cursor: object,
    *,
    secret: bytes | None = None,
    index: str | None,
    sort: SortOrder,
    key_types: Mapping[str, str],
    table: str | None = None,
    operation: ReadOperation = "Query",
) -> Cursor:
    """Check a cursor against the query it is handed to and return its start key.

    `key_types` maps each attribute the start key must hold (the queried index's keys and the table's) to
    its DynamoDB type. With a `secret`, only cursors signed with it for this `operation`, `table` (as sent)
    and `index` are accepted; without one, a signed cursor is refused too, so a misconfigured service fails
    loudly instead of skipping the check.

    Raises:
        ValidationError: the cursor does not decode, was tampered with, or belongs to another index, order
            or key schema. The message never echoes the cursor.
    """
    if not isinstance(cursor, str) or not cursor:
        raise ValidationError("a cursor is a non-empty string")
    if len(cursor) > _MAX_CURSOR:
        raise ValidationError("the cursor is too long to be one of ours")
    text, dot, signature = cursor.partition(".")
    if secret is not None:
        if not dot:
            raise ValidationError("the cursor is not signed; this query accepts signed cursors only")
        if table is None:
            raise ValidationError("a signed cursor is bound to its table: pass table=")
        expected = _signature(secret, _mac_input(text, operation, table, index)).encode()
        if not hmac.compare_digest(signature.encode("ascii", "replace"), expected):
            raise ValidationError(
                "the cursor's signature does not match: it was altered, signed elsewhere, or made for "
                "another table, index or kind of read"
            )
    elif dot:
        raise ValidationError("the cursor is signed, but no cursor secret is configured for this query")
    doc = _document(text)
    last_key = doc.get("lastKey")
    if not isinstance(last_key, dict) or not last_key:
        raise ValidationError("the cursor holds no start key")
    got_index = doc.get("index")
    if got_index is not None and (not isinstance(got_index, str) or not got_index):
        raise ValidationError("the cursor's index is not a name")
    if got_index != index:
        where = f"index {got_index!r}" if got_index is not None else "the table"
        here = f"index {index!r}" if index is not None else "the table"
        raise ValidationError(f"the cursor was made for {where}, not {here}")
    got_sort = doc.get("sort", "ASC")
    if got_sort not in ("ASC", "DESC"):
        raise ValidationError("the cursor's sort order is neither ASC nor DESC")
    if got_sort != sort:
        raise ValidationError(f"the cursor was made for a {got_sort} query, not {sort}")
    if set(last_key) != set(key_types):
        raise ValidationError(
            f"the cursor's start key names {sorted(last_key)}, this query's keys are {sorted(key_types)}"
        )
    for name, av in last_key.items():
        _check_key_value(name, av, key_types[name])
    return Cursor(last_key=last_key)


def _document(text: str) -> dict[str, object]:
    if not _BASE64URL.fullmatch(text):
        raise ValidationError("the cursor is not base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValidationError("the cursor does not decode") from None
    if _nesting(raw) > _MAX_DEPTH:
        raise ValidationError("the cursor nests deeper than a cursor does")
    try:
        doc = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError("the cursor does not decode") from None
    if not isinstance(doc, dict):
        raise ValidationError("the cursor does not decode to an object")
    unknown = doc.keys() - {"lastKey", "index", "sort"}
    if unknown:
        raise ValidationError("the cursor holds unknown fields")
    return doc


def _nesting(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, strings skipped; malformed text may over-count."""
    depth = deepest = 0
    for bracket in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if bracket in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def _check_key_value(name: str, av: object, want: str) -> None:
    if not isinstance(av, dict) or len(av) != 1:
        raise ValidationError(f"the cursor's value for {name!r} is not an AttributeValue")
    ((tag, value),) = av.items()
    if tag not in _KEY_TYPES or not isinstance(value, str):
        raise ValidationError(f"the cursor's value for {name!r} is not a key value")
    if tag != want:
        raise ValidationError(f"the cursor's value for {name!r} is a {tag}, the key is a {want}")
    if tag == "N" and not _NUMBER.fullmatch(value):
        raise ValidationError(f"the cursor's value for {name!r} is not a number")
    if tag == "B":
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValidationError(f"the cursor's value for {name!r} is not base64") from None
    if not value:
        raise ValidationError(f"the cursor's value for {name!r} is empty")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"the cursor's value for {name!r} is not valid Unicode") from None
