"""KMS over the lean wire: the JSON 1.1 protocol (`X-Amz-Target: TrentService.<op>`), SigV4 service `kms`.

The DynamoDB transport with another service name, target prefix, content type and endpoint, so KMS
requests share its HTTP/1.1 pool, signer and error mapping, and go through the one call function.
Imports only the standard library, `errors` and the lean wire; never botocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiotheory.errors import ValidationError
from aiotheory.transport._endpoints import _PARTITION_SUFFIXES, _REGION_CHARS, _flag
from aiotheory.transport.lean import LeanTransport

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["KMS_OPERATIONS", "KmsTransport", "kms_url"]

_API: Final = "TrentService"
#: The two operations envelope encryption needs.
KMS_OPERATIONS: Final = ("Decrypt", "GenerateDataKey")
_KMS_TARGETS: Final[dict[str, str]] = {op: f"{_API}.{op}" for op in KMS_OPERATIONS}


def kms_url(region: str, endpoint_url: str | None, environ: Mapping[str, str]) -> str:
    """The KMS endpoint: explicit, else `AWS_ENDPOINT_URL_KMS`, else `AWS_ENDPOINT_URL`, else regional.

    `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` skips the two variables, as botocore does.
    """
    if endpoint_url:
        return endpoint_url
    if not _flag(environ, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        configured = environ.get("AWS_ENDPOINT_URL_KMS") or environ.get("AWS_ENDPOINT_URL")
        if configured:
            return configured
    if not region or not _REGION_CHARS.issuperset(region) or region[0] == "-":
        raise ValidationError(f"invalid AWS region {region!r}: cannot build the KMS endpoint")
    suffix = "amazonaws.com"
    for prefix, dns in _PARTITION_SUFFIXES:
        if region.startswith(prefix):
            suffix = dns
            break
    return f"https://kms.{region}.{suffix}"


class KmsTransport(LeanTransport):
    """A `Transport` for KMS: `send("GenerateDataKey" | "Decrypt", payload)`; blobs travel as base64."""

    __slots__ = ()

    _service = "kms"
    _api = _API
    _content_type = "application/x-amz-json-1.1"
    _targets = _KMS_TARGETS

    @staticmethod
    def _resolve_url(region: str, endpoint_url: str | None, environ: Mapping[str, str]) -> str:
        return kms_url(region, endpoint_url, environ)
