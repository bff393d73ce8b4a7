"""Where the lean wire sends DynamoDB requests: region and endpoint resolution, in botocore's order.

Pure functions over an environ mapping, so tests pass a dict. Imports only the standard library and
`errors`; no I/O (the shared config file is botocore's business, see `transport/botocore.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiotheory.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["dynamodb_url", "resolve_endpoint_url", "resolve_region", "service_url"]

_REGION_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# Region prefix -> DNS suffix of its partition (botocore's endpoints.json); the rest is "aws".
_PARTITION_SUFFIXES: Final = (
    ("cn-", "amazonaws.com.cn"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
)
_TRUE: Final = frozenset({"true"})
_FALSE: Final = frozenset({"false", ""})


def resolve_region(region: str | None, environ: Mapping[str, str]) -> str:
    """The signing region: the argument, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.

    Raises:
        ValidationError: none is set, naming what to set.
    """
    chosen = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not chosen:
        raise ValidationError(
            "no AWS region: pass region=... (e.g. DB(region='us-east-1')) or set AWS_REGION "
            "(or AWS_DEFAULT_REGION)"
        )
    chosen = chosen.strip()
    if not chosen or any(c in chosen for c in " /\r\n\t"):
        raise ValidationError(f"invalid AWS region {chosen!r}")
    return chosen


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValidationError(f"{name} must be true or false, got {raw!r}")


def dynamodb_url(region: str, *, fips: bool = False) -> str:
    """The public DynamoDB endpoint of `region` in its partition (FIPS: `dynamodb-fips.`)."""
    return _public_url("dynamodb-fips" if fips else "dynamodb", region, "DynamoDB")


def _public_url(host: str, region: str, what: str) -> str:
    if not region or not _REGION_CHARS.issuperset(region) or region[0] == "-":
        raise ValidationError(f"invalid AWS region {region!r}: cannot build the {what} endpoint")
    suffix = "amazonaws.com"
    for prefix, dns in _PARTITION_SUFFIXES:
        if region.startswith(prefix):
            suffix = dns
            break
    return f"https://{host}.{region}.{suffix}"


def service_url(service: str, region: str, endpoint_url: str | None, environ: Mapping[str, str]) -> str:
    """Another service's endpoint (e.g. "kms"): explicit, else `AWS_ENDPOINT_URL_<SERVICE>`, else
    `AWS_ENDPOINT_URL`, else `https://<service>.<region>.<partition suffix>`; botocore's order, with
    `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` skipping the two variables."""
    if endpoint_url:
        return endpoint_url
    if not _flag(environ, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        configured = environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or environ.get("AWS_ENDPOINT_URL")
        if configured:
            return configured
    return _public_url(service, region, service.upper())


def resolve_endpoint_url(region: str, endpoint_url: str | None, environ: Mapping[str, str]) -> str:
    """The endpoint URL: explicit, else `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else public.

    `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` skips the two environment variables (botocore's rule);
    `AWS_USE_FIPS_ENDPOINT=true` picks the FIPS host of the public endpoint.
    """
    if endpoint_url:
        return endpoint_url
    if not _flag(environ, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        configured = environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL")
        if configured:
            return configured
    return dynamodb_url(region, fips=_flag(environ, "AWS_USE_FIPS_ENDPOINT"))
