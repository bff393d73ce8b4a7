"""AWS Signature Version 4 for the lean wire: header signing of one request with its body.

The signing key (four HMACs) is derived once per (key id, date) on each signer, whose region and
service are fixed, so the hot path is two SHA-256s and one HMAC. Imports only the standard library
and `aiotheory.credentials` for typing; never botocore.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable
    from hashlib import _Hash

    from aiotheory.credentials import Credentials

__all__ = ["SigV4Signer", "amz_date", "canonical_query", "uri_encode"]

_ALGORITHM: Final = "AWS4-HMAC-SHA256"
_sha256: Final = hashlib.sha256
_hmac_digest: Final = hmac.digest
# A signer sees one or two credential sets (a refresh overlaps the old one); the bound only stops a
# pathological caller from growing the cache without end.
_MAX_KEYS: Final = 16
_SHA256_BLOCK: Final = 64
# RFC 3986 unreserved characters: the only ones SigV4 leaves unencoded.
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_UNRESERVED_AND_SLASH: Final = _UNRESERVED | {"/"}


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """Percent-encode `text` the SigV4 way: UTF-8 bytes, upper-case hex, only unreserved characters kept.

    Written here rather than taken from `urllib.parse` so the lean wire does not import it (about 1 ms).
    """
    safe = _UNRESERVED_AND_SLASH if keep_slash else _UNRESERVED
    if all(c in safe for c in text):
        return text
    out: list[str] = []
    for c in text:
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8"))
    return "".join(out)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query string of raw (unencoded) `params`: each name and value encoded, then sorted.

    `SigV4Signer.sign` takes the query already in this form, so a caller with a constant query builds
    it once. Sorting is by encoded name, then encoded value, as SigV4 requires for repeated names.
    """
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in params)
    return "&".join([f"{k}={v}" for k, v in pairs])


@lru_cache(maxsize=256)
def _canonical_path(path: str) -> str:
    """Normalise (RFC 3986 dot segments, repeated slashes) and encode a path, as non-S3 services expect.

    `path` is the path as sent on the wire, so an already-encoded `%20` becomes `%2520`: the
    double encoding AWS prescribes for every service but S3 (which this signer does not serve).
    """
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    normalised = "/".join(kept)
    if path[0] == "/":
        normalised = "/" + normalised
    if path[-1] == "/" and kept:
        normalised += "/"
    return uri_encode(normalised, keep_slash=True)


class _LastSecond:
    """The last formatted second; one tuple attribute so a reader never sees a torn pair."""

    __slots__ = ("pair",)

    def __init__(self) -> None:
        self.pair: tuple[int, str] = (-1, "")


_last_second: Final = _LastSecond()


def amz_date(epoch_seconds: float) -> str:
    """Format wall-clock `epoch_seconds` as SigV4's `YYYYMMDDTHHMMSSZ`; formatted once per second."""
    second = int(epoch_seconds)
    pair = _last_second.pair
    if pair[0] == second:
        return pair[1]
    text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
    _last_second.pair = (second, text)
    return text


class SigV4Signer:
    """Signs requests for one (region, service); keeps the derived signing key per (key id, date).

    Header names given to `sign` are lower-case and exclude `x-amz-date`, `x-amz-security-token` and
    `authorization`, which the signer owns. Requests are signed in full: the body's SHA-256 is part
    of the signature (no `UNSIGNED-PAYLOAD`, no `x-amz-content-sha256`, which DynamoDB and STS ignore).
    """

    __slots__ = ("_keys", "_region", "_scope_tail", "_service")

    def __init__(self, region: str, service: str) -> None:
        self._region = region
        self._service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        # (access key id, YYYYMMDD) -> (secret it came from, HMAC states of the signing key). The secret
        # tells apart two secrets under one key id (fakes and tests do that; AWS never does).
        self._keys: dict[tuple[str, str], tuple[str, tuple[_Hash, _Hash]]] = {}

    @property
    def region(self) -> str:
        return self._region

    @property
    def service(self) -> str:
        return self._service

    def sign(
        self,
        creds: Credentials,
        method: str,
        host: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        amz_date: str,
    ) -> dict[str, str]:
        """Return the headers to add to the request: `x-amz-date`, `authorization` and, when the
        credentials carry a session token, the (signed) `x-amz-security-token`.

        Args:
            host: signed as the `host` header when `headers` has none.
            path: the request path as sent on the wire; normalised and encoded here.
            query: the canonical query string (see `canonical_query`), or "".
            amz_date: `YYYYMMDDTHHMMSSZ`, from `amz_date(clock())`.
        """
        token = creds.session_token
        creq, signed = self._canonical(method, host, path, query, headers, body, amz_date, token)
        date = amz_date[:8]
        inner, outer = self._macs(creds, date)
        to_sign = self.string_to_sign(creq, amz_date)
        # HMAC-SHA256 by hand from the cached padded-key states: hmac.digest() re-initialises OpenSSL
        # per call (about 2 us); two state copies cost about 0.5 us.
        mac = inner.copy()
        mac.update(to_sign.encode("utf-8"))
        final = outer.copy()
        final.update(mac.digest())
        signature = final.hexdigest()
        added = {
            "x-amz-date": amz_date,
            "authorization": (
                f"{_ALGORITHM} Credential={creds.access_key_id}/{date}{self._scope_tail}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }
        if token:
            added["x-amz-security-token"] = token
        return added

    def canonical_request(
        self,
        creds: Credentials,
        method: str,
        host: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        amz_date: str,
    ) -> str:
        """The canonical request `sign` hashes (for tests and for debugging a SignatureDoesNotMatch)."""
        return self._canonical(method, host, path, query, headers, body, amz_date, creds.session_token)[0]

    def string_to_sign(self, canonical_request: str, amz_date: str) -> str:
        """The string to sign for `canonical_request` (for tests and debugging)."""
        digest = _sha256(canonical_request.encode("utf-8")).hexdigest()
        return f"{_ALGORITHM}\n{amz_date}\n{amz_date[:8]}{self._scope_tail}\n{digest}"

    def _canonical(
        self,
        method: str,
        host: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        amz_date: str,
        token: str | None,
    ) -> tuple[str, str]:
        items = [*headers.items(), ("x-amz-date", amz_date)]
        if token:
            items.append(("x-amz-security-token", token))
        if "host" not in headers:
            items.append(("host", host))
        items.sort()
        # Trimall: outer whitespace dropped and inner runs collapsed to one space (SigV4 docs).
        canonical_headers = "".join([f"{k}:{' '.join(v.split())}\n" for k, v in items])
        signed = ";".join([k for k, _ in items])
        canonical_path = path if path == "/" else _canonical_path(path)
        creq = (
            f"{method}\n{canonical_path}\n{query}\n{canonical_headers}\n{signed}\n{_sha256(body).hexdigest()}"
        )
        return creq, signed

    def _macs(self, creds: Credentials, date: str) -> tuple[_Hash, _Hash]:
        """The HMAC inner and outer SHA-256 states of the signing key, derived once per (key id, date)."""
        slot = (creds.access_key_id, date)
        secret = creds.secret_access_key
        hit = self._keys.get(slot)
        if hit is not None and hit[0] == secret:
            return hit[1]
        key = self._signing_key(creds, date)
        block = key.ljust(_SHA256_BLOCK, b"\0")
        states = (
            _sha256(bytes(b ^ 0x36 for b in block)),
            _sha256(bytes(b ^ 0x5C for b in block)),
        )
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()
        self._keys[slot] = (secret, states)
        return states

    def _signing_key(self, creds: Credentials, date: str) -> bytes:
        """SigV4's four chained HMACs: secret -> date -> region -> service -> "aws4_request"."""
        key = _hmac_digest(("AWS4" + creds.secret_access_key).encode("utf-8"), date.encode("utf-8"), "sha256")
        for part in (self._region, self._service, "aws4_request"):
            key = _hmac_digest(key, part.encode("utf-8"), "sha256")
        return key
