"""KMS envelope encryption of `Encrypted` attributes, in TableTheory's format, between codec and wire.

After `schema.encode` the encrypted attributes are sealed; before `schema.decode` they are opened. The
codec stays pure and sync; this layer is async because KMS is. KMS requests go through the one call
function on the lean wire (`transport/_kms.py`). `cryptography` is imported on first use only
(`aiotheory[crypto]`). Imports no botocore, no model and no DB.

The envelope (TableTheory `internal/encryption/service.go`): a map `{v: N "1", edk: B, nonce: B, ct: B}`;
`ct` is AES-256-GCM of the attribute's canonical AttributeValue JSON with a 12-byte random nonce and the
AAD `theorydb:encrypted:v1|attr=<stored name>`, under a data key from KMS GenerateDataKey (AES_256).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from ._call import call
from .errors import DecryptionFailed, MissingExtra, TransportError, ValidationError
from .expr._nodes import IfNotExists, PathAction, SetAction, Value
from .expr._params import Params

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from ._types import AttributeValue, Item, Payload
    from .expr import Condition, Update
    from .retries import RetryPolicy
    from .transport.base import Transport

__all__ = [
    "ENVELOPE_VERSION",
    "DataKeyPolicy",
    "Encryption",
    "aad",
    "av_from_json",
    "av_to_json",
    "check_crypto",
    "refuse_in_condition",
    "seal_placeholders",
    "sealed_values",
]

#: The only envelope version TableTheory writes and reads.
ENVELOPE_VERSION: Final = "1"
_AAD_PREFIX: Final = b"theorydb:encrypted:v1|attr="
_NONCE_BYTES: Final = 12
_KEY_BYTES: Final = 32
# Go's encoding/json escapes these inside strings; TableTheory's Go writer is the reference bytes.
_GO_ESCAPES: Final = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_DUMPS: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_LOADS: Final = json.JSONDecoder().decode


def aad(stored: str) -> bytes:
    """The AES-GCM associated data binding an envelope to the attribute it is stored under."""
    return _AAD_PREFIX + stored.encode("utf-8")


# ------------------------------------------------------------------------------ canonical AV JSON


def _to_json(av: AttributeValue) -> dict[str, Any]:
    # Key order and omissions follow TableTheory's Go struct (`avJSON`, omitempty): t, s, n, b, bool,
    # l, m, ss, ns, bs, null; an empty list, map or set drops its member. B stays the base64 text the
    # wire already carries (standard alphabet, padded), as Go's base64.StdEncoding writes it.
    ((tag, value),) = av.items()
    if tag == "S":
        return {"t": "S", "s": value}
    if tag == "N":
        return {"t": "N", "n": value}
    if tag == "B":
        return {"t": "B", "b": value}
    if tag == "BOOL":
        return {"t": "BOOL", "bool": bool(value)}
    if tag == "NULL":
        return {"t": "NULL", "null": True}
    if tag == "L":
        return {"t": "L", "l": [_to_json(v) for v in value]} if value else {"t": "L"}
    if tag == "M":
        if not value:
            return {"t": "M"}
        return {"t": "M", "m": {k: _to_json(value[k]) for k in sorted(value)}}
    if tag in ("SS", "NS", "BS"):
        return {"t": tag, tag.lower(): list(value)} if value else {"t": tag}
    raise ValidationError(f"cannot encrypt an attribute value of type {tag}")


def av_to_json(av: AttributeValue) -> bytes:
    """The canonical AttributeValue JSON TableTheory encrypts (byte-identical to its Go writer)."""
    return _DUMPS(_to_json(av)).translate(_GO_ESCAPES).encode("utf-8")


def _from_json(doc: Any) -> AttributeValue:
    if type(doc) is not dict:
        raise ValueError("not an object")
    tag = doc.get("t")
    # Absent members read as Go's zero values, as TableTheory's Go reader does.
    if tag == "S":
        return {"S": _text(doc.get("s", ""))}
    if tag == "N":
        return {"N": _text(doc.get("n", "0"))}
    if tag == "B":
        raw = _text(doc.get("b", ""))
        base64.b64decode(raw, validate=True)  # refuse what Go's StdEncoding would refuse
        return {"B": raw}
    if tag == "BOOL":
        return {"BOOL": doc.get("bool") is True}
    if tag == "NULL":
        return {"NULL": True}
    if tag == "L":
        return {"L": [_from_json(v) for v in _list(doc.get("l"))]}
    if tag == "M":
        members = doc.get("m") or {}
        if type(members) is not dict:
            raise ValueError("m is not an object")
        return {"M": {k: _from_json(v) for k, v in members.items()}}
    if tag in ("SS", "NS", "BS"):
        values = [_text(v) for v in _list(doc.get(tag.lower()))]
        if tag == "BS":
            for v in values:
                base64.b64decode(v, validate=True)
        return {tag: values}
    raise ValueError("unknown type tag")


def _text(value: object) -> str:
    if type(value) is not str:
        raise ValueError("not a string")
    return value


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise ValueError("not a list")
    return value


def av_from_json(data: bytes) -> AttributeValue:
    """The AttributeValue (DynamoDB JSON, B as base64 text) of canonical AV JSON; ValueError if malformed."""
    try:
        return _from_json(_LOADS(data.decode("utf-8")))
    except (UnicodeDecodeError, binascii.Error, RecursionError) as exc:
        raise ValueError(type(exc).__name__) from None


# ------------------------------------------------------------------------------ keys and caches


class DataKeyPolicy:
    """How long data keys are reused. TableTheory asks KMS once per attribute per read and write;
    aiotheory reuses one data key for up to `max_uses` envelopes and `max_age` seconds, and keeps up
    to `decrypt_entries` opened data keys (by `edk`) for `max_age` seconds, least recently used out.

    `clock` is wall-clock seconds: a frozen Lambda's monotonic clock stands still, so a key cached
    before a freeze would outlive its bound measured by it. `max_uses=1` and `decrypt_entries=0`
    give TableTheory's one-call-per-attribute behaviour.
    """

    __slots__ = ("clock", "decrypt_entries", "max_age", "max_uses")

    def __init__(
        self,
        *,
        max_uses: int = 10_000,
        max_age: float = 300.0,
        decrypt_entries: int = 1_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_uses < 1 or max_age <= 0 or decrypt_entries < 0:
            raise ValidationError("DataKeyPolicy: max_uses >= 1, max_age > 0 and decrypt_entries >= 0")
        self.max_uses = max_uses
        self.max_age = max_age
        self.decrypt_entries = decrypt_entries
        self.clock = clock

    def __repr__(self) -> str:
        return (
            f"DataKeyPolicy(max_uses={self.max_uses}, max_age={self.max_age}, "
            f"decrypt_entries={self.decrypt_entries})"
        )


class _DataKey:
    """One plaintext data key (as its AES-GCM cipher), its KMS-encrypted form and its remaining budget."""

    __slots__ = ("cipher", "edk", "expires", "uses")

    def __init__(self, cipher: Any, edk: str, expires: float, uses: int) -> None:
        self.cipher = cipher
        self.edk = edk  # base64 text, as stored in the envelope
        self.expires = expires
        self.uses = uses

    def __repr__(self) -> str:
        return "<data key>"  # never the key


def check_crypto() -> None:
    """Raise MissingExtra now when `cryptography` is absent (the DB asks before any request)."""
    _aesgcm()


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise MissingExtra(
            'Encrypted fields need the cryptography package: pip install "aiotheory[crypto]"',
            extra="crypto",
            name="cryptography",
        ) from exc
    return AESGCM


def _blob(reply: Payload, name: str, operation: str) -> bytes:
    raw = reply.get(name)
    try:
        blob = base64.b64decode(raw, validate=True) if type(raw) is str else None
    except binascii.Error:
        blob = None
    if not blob:
        raise TransportError(f"KMS {operation}: reply lacks a valid {name}", operation=operation)
    return blob


class Encryption:
    """One DB's envelope encryption: the data key caches and the KMS calls (through `_call.call`).

    Args:
        kms: where KMS requests go; read on every call (the DB creates its KMS transport on first use).
        retry: the DB's retry policy.
    """

    __slots__ = ("_aesgcm", "_kms", "_opened", "_policy", "_retry", "_sealing", "kms_calls")

    def __init__(self, kms: Callable[[], Transport], retry: RetryPolicy, policy: DataKeyPolicy) -> None:
        self._kms = kms
        self._retry = retry
        self._policy = policy
        self._aesgcm: Any = None
        self._sealing: dict[str, _DataKey] = {}  # key id -> the data key new envelopes use
        self._opened: OrderedDict[str, _DataKey] = OrderedDict()  # edk (base64) -> data key, LRU
        #: KMS requests sent (GenerateDataKey + Decrypt); what the caches save is visible here.
        self.kms_calls = 0

    def __repr__(self) -> str:
        return f"Encryption({self._policy!r}, cached={len(self._opened)})"

    def _cipher_class(self) -> Any:
        cls = self._aesgcm
        if cls is None:
            cls = self._aesgcm = _aesgcm()
        return cls

    async def _kms_call(self, operation: str, payload: Payload) -> Payload:
        self.kms_calls += 1
        return await call(self._kms(), operation, payload, self._retry)

    async def _data_key(self, key_id: str) -> _DataKey:
        cipher_class = self._cipher_class()
        policy = self._policy
        now = policy.clock()
        key = self._sealing.get(key_id)
        if key is not None and key.uses > 0 and now < key.expires:
            key.uses -= 1
            return key
        reply = await self._kms_call("GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"})
        plain = _blob(reply, "Plaintext", "GenerateDataKey")
        edk = _blob(reply, "CiphertextBlob", "GenerateDataKey")
        if len(plain) != _KEY_BYTES:
            raise TransportError(
                "KMS GenerateDataKey: the data key is not 32 bytes", operation="GenerateDataKey"
            )
        # Measured from before the call: the bound is never stretched by a slow KMS reply.
        key = _DataKey(cipher_class(plain), base64.b64encode(edk).decode("ascii"), now + policy.max_age, 0)
        key.uses = policy.max_uses - 1
        self._sealing[key_id] = key
        if policy.decrypt_entries:
            # Our own envelopes read back without a Decrypt (the same data key).
            self._remember(key.edk, key.cipher, key.expires)
        return key

    def _remember(self, edk: str, cipher: Any, expires: float) -> None:
        opened = self._opened
        opened[edk] = _DataKey(cipher, edk, expires, 0)
        opened.move_to_end(edk)
        while len(opened) > self._policy.decrypt_entries:
            opened.popitem(last=False)

    def _seal_with(self, key: _DataKey, stored: str, av: AttributeValue) -> AttributeValue:
        nonce = os.urandom(_NONCE_BYTES)
        ct = key.cipher.encrypt(nonce, av_to_json(av), aad(stored))
        return {
            "M": {
                "v": {"N": ENVELOPE_VERSION},
                "edk": {"B": key.edk},
                "nonce": {"B": base64.b64encode(nonce).decode("ascii")},
                "ct": {"B": base64.b64encode(ct).decode("ascii")},
            }
        }

    async def seal_value(self, key_id: str, stored: str, av: AttributeValue) -> AttributeValue:
        """The envelope of `av` stored under attribute `stored` (one data key use)."""
        return self._seal_with(await self._data_key(key_id), stored, av)

    async def seal(self, key_id: str, encrypted: frozenset[str], item: Item) -> Item:
        """A copy of `item` whose `encrypted` attributes are envelopes; absent ones stay absent."""
        out = dict(item)
        for stored in encrypted:
            av = out.get(stored)
            if av is not None:
                out[stored] = self._seal_with(await self._data_key(key_id), stored, av)
        return out

    async def open(
        self,
        key_id: str,
        encrypted: frozenset[str],
        items: Iterable[Item | None],
        *,
        table: str,
        key_names: tuple[str, ...],
    ) -> None:
        """Replace, in place, every `encrypted` attribute of `items` by its plaintext AttributeValue.

        One KMS Decrypt per distinct `edk` not cached: a page or batch is gathered first.

        Raises:
            DecryptionFailed: an attribute is not an envelope, has another version, or fails its tag
                (moved to another attribute, or changed).
        """
        found: list[tuple[Item, str, str, bytes, bytes]] = []
        for item in items:
            if item is None:
                continue
            for stored in encrypted:
                env = item.get(stored)
                if env is not None:
                    edk, nonce, ct = _parts(env, item, stored, table, key_names)
                    found.append((item, stored, edk, nonce, ct))
        if not found:
            return
        cipher_class = self._cipher_class()
        policy = self._policy
        now = policy.clock()
        opened = self._opened
        ciphers: dict[str, Any] = {}
        for item, stored, edk, _, _ in found:
            if edk in ciphers:
                continue
            hit = opened.get(edk)
            if hit is not None and now < hit.expires:
                opened.move_to_end(edk)
                ciphers[edk] = hit.cipher
                continue
            # KeyId too (as TableTheory sends it): KMS refuses an edk made under another key.
            reply = await self._kms_call("Decrypt", {"CiphertextBlob": edk, "KeyId": key_id})
            plain = _blob(reply, "Plaintext", "Decrypt")
            if len(plain) != _KEY_BYTES:
                raise _failed("KMS returned a data key that is not 32 bytes", item, stored, table, key_names)
            cipher = ciphers[edk] = cipher_class(plain)
            if policy.decrypt_entries:
                self._remember(edk, cipher, now + policy.max_age)
        from cryptography.exceptions import InvalidTag

        for item, stored, edk, nonce, ct in found:
            try:
                plain_av = av_from_json(ciphers[edk].decrypt(nonce, ct, aad(stored)))
            except InvalidTag:
                raise _failed(
                    "the envelope fails its authentication tag (moved from another attribute, or changed)",
                    item,
                    stored,
                    table,
                    key_names,
                ) from None
            except ValueError:
                raise _failed(
                    "the decrypted value is not AttributeValue JSON", item, stored, table, key_names
                ) from None
            item[stored] = plain_av

    def forget(self) -> None:
        """Drop every cached data key (e.g. after a key rotation or in tests)."""
        self._sealing.clear()
        self._opened.clear()


def _failed(why: str, item: Item, stored: str, table: str, key_names: tuple[str, ...]) -> DecryptionFailed:
    key = {name: item[name] for name in key_names if name in item}
    return DecryptionFailed(
        f"cannot decrypt attribute {stored!r} of an item in {table!r}: {why}",
        table=table,
        key=key,
        field=stored,
    )


def _parts(
    env: AttributeValue, item: Item, stored: str, table: str, key_names: tuple[str, ...]
) -> tuple[str, bytes, bytes]:
    members = env.get("M")
    if type(members) is not dict:
        raise _failed("it is not an encrypted envelope (a map)", item, stored, table, key_names)
    if members.get("v") != {"N": ENVELOPE_VERSION}:
        raise _failed("unsupported envelope version", item, stored, table, key_names)
    try:
        edk = members["edk"]["B"]
        nonce = base64.b64decode(members["nonce"]["B"], validate=True)
        ct = base64.b64decode(members["ct"]["B"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise _failed("the envelope lacks edk, nonce or ct", item, stored, table, key_names) from None
    if type(edk) is not str or not edk or not nonce:
        raise _failed("the envelope lacks edk, nonce or ct", item, stored, table, key_names)
    return edk, nonce, ct


# ------------------------------------------------------------------------------ expressions


class _PathRecorder(Params):
    """Renders like `Params` and notes the top-level name of every path (and every Raw name)."""

    __slots__ = ("tops",)

    def __init__(self) -> None:
        super().__init__()
        self.tops: set[str] = set()

    def path(self, path: tuple[str | int, ...]) -> str:
        self.tops.add(path[0])  # type: ignore[arg-type]  # Attr guarantees the first segment is a str
        return super().path(path)

    def raw(self, names: Mapping[str, str], values: Mapping[str, AttributeValue]) -> None:
        self.tops.update(names.values())
        super().raw(names, values)


def refuse_in_condition(encrypted: frozenset[str], condition: Condition, what: str) -> None:
    """Raise ValidationError when `condition` reads an Encrypted attribute.

    DynamoDB sees only the envelope, so a comparison could never match the plaintext, and an
    existence test would leak nothing useful: TableTheory refuses them too (ErrEncryptedFieldNotQueryable).
    """
    recorder = _PathRecorder()
    condition._render(recorder)
    used = recorder.tops & encrypted
    if used:
        raise ValidationError(
            f"{what}: Encrypted attribute {sorted(used)[0]!r} cannot be used in a condition, filter or "
            "key condition (DynamoDB sees only its envelope)"
        )


def sealed_values(
    encrypted: frozenset[str], actions: Sequence[Update], what: str
) -> list[tuple[AttributeValue, str]]:
    """The values `actions` SET on Encrypted attributes, each with its stored name; others refused.

    Allowed, as TableTheory allows them: `SET a = value`, `SET a = if_not_exists(a, value)` and
    `REMOVE a`. Refused: nested paths, ADD/DELETE, arithmetic, list appends and values read from
    other attributes (those could not be sealed for this attribute). Sync, so a transaction refuses
    them when the action is recorded; the values are sealed later, by identity.
    """
    out: list[tuple[AttributeValue, str]] = []
    for action in actions:
        top = action.path[0]
        if top not in encrypted:
            continue
        stored = str(top)
        if len(action.path) > 1:
            raise ValidationError(f"{what}: Encrypted attribute {stored!r} cannot be updated inside")
        if type(action) is PathAction:
            continue
        if type(action) is SetAction:
            value = action.value
            if type(value) is Value:
                out.append((value.av, stored))
                continue
            if type(value) is IfNotExists and value.path == action.path and type(value.default) is Value:
                out.append((value.default.av, stored))
                continue
        raise ValidationError(
            f"{what}: Encrypted attribute {stored!r} takes only SET to a value, SET if_not_exists or REMOVE"
        )
    return out


async def seal_placeholders(
    encryption: Encryption,
    key_id: str,
    sealed: list[tuple[AttributeValue, str]],
    values: dict[str, AttributeValue],
) -> None:
    """Replace, in a rendered request's ExpressionAttributeValues, each value of `sealed` (found by
    identity: the allocator keeps the very object) by its envelope."""
    by_id = {id(av): stored for av, stored in sealed}
    for placeholder, av in values.items():
        stored = by_id.get(id(av))
        if stored is not None:
            values[placeholder] = await encryption.seal_value(key_id, stored, av)
