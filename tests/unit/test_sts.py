"""The lean STS client: request shape and signature, XML reply parsing, error mapping, endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from aiotheory._call import call
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.credentials._sts import (
    StsTransport,
    build_assume_role_payload,
    credentials_from_assume_role,
    parse_assume_role,
    sts_url,
)
from aiotheory.errors import (
    AccessDenied,
    AwsError,
    ExpiredToken,
    ServiceError,
    Throttled,
    TransportError,
    ValidationError,
)
from aiotheory.retries import RetryPolicy
from aiotheory.transport._http11 import HttpResponse, StaleConnection

_BASE = Credentials(access_key_id="AKIDBASE", secret_access_key="base-secret", session_token="base-token")
_ROLE = "arn:aws:iam::111111111111:role/partner-x"
_NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
_OK = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>Alice</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111111111111:assumed-role/partner-x/s1</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:s1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>IQoJb3JpZ2luX2VjEOz////////////////////wEXAMPLE==</SessionToken>
      <Expiration>2023-11-14T23:13:20Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"""


def _error_xml(code: str, message: str) -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>4f2e9a4b-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()


class _FakeHttp:
    """Answers with scripted replies (or raises) and records each request."""

    def __init__(self, *replies: HttpResponse | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.closed = False

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        self.requests.append((method, url, dict(headers), body))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def close(self) -> None:
        self.closed = True


class _Provider:
    def __init__(self) -> None:
        self.invalidations = 0

    async def get(self) -> Credentials:
        return _BASE

    def invalidate(self) -> None:
        self.invalidations += 1


def _transport(*replies: HttpResponse | Exception, **kwargs: object) -> tuple[StsTransport, _FakeHttp]:
    http = _FakeHttp(*replies)
    sts = StsTransport(
        "eu-west-1",
        StaticProvider(_BASE),
        http=http,
        clock=lambda: _NOW,
        **kwargs,  # type: ignore[arg-type]
    )
    return sts, http


async def _no_sleep(delay: float) -> None:
    return None


# --- payload and request ---------------------------------------------------------------------------


def test_build_payload_adds_external_id_only_when_set() -> None:
    assert build_assume_role_payload(_ROLE, "s1") == {"RoleArn": _ROLE, "RoleSessionName": "s1"}
    assert build_assume_role_payload(_ROLE, "s1", duration_seconds=900, external_id="ext-1") == {
        "RoleArn": _ROLE,
        "RoleSessionName": "s1",
        "DurationSeconds": 900,
        "ExternalId": "ext-1",
    }


def test_build_payload_refuses_empty_role_or_session_name() -> None:
    with pytest.raises(ValidationError):
        build_assume_role_payload("", "s1")
    with pytest.raises(ValidationError):
        build_assume_role_payload(_ROLE, "")


async def test_send_posts_signed_form_to_regional_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(name, raising=False)
    sts, http = _transport(HttpResponse(200, {}, _OK))
    payload = build_assume_role_payload(_ROLE, "s1", duration_seconds=900, external_id="ext 1/+")
    await sts.send("AssumeRole", payload)

    [(method, url, headers, body)] = http.requests
    assert (method, url) == ("POST", "https://sts.eu-west-1.amazonaws.com")
    assert body == (
        b"Action=AssumeRole&Version=2011-06-15"
        b"&RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fpartner-x"
        b"&RoleSessionName=s1&DurationSeconds=900&ExternalId=ext%201%2F%2B"
    )
    assert headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert headers["host"] == "sts.eu-west-1.amazonaws.com"
    assert headers["x-amz-date"] == "20231114T221320Z"
    assert headers["x-amz-security-token"] == "base-token"
    # The same request signed by botocore must carry the same Authorization.
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"content-type": headers["content-type"], "host": headers["host"]},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(BotoCredentials("AKIDBASE", "base-secret", "base-token"), "sts", "eu-west-1")
    auth._modify_request_before_signing(request)
    creq = auth.canonical_request(request)
    auth._inject_signature_to_request(request, auth.signature(auth.string_to_sign(request, creq), request))
    assert headers["authorization"] == request.headers["Authorization"]
    assert "/20231114/eu-west-1/sts/aws4_request" in headers["authorization"]


async def test_send_refuses_other_operations_without_sending() -> None:
    sts, http = _transport()
    with pytest.raises(ValidationError, match="AssumeRole only"):
        await sts.send("GetCallerIdentity", {})
    assert http.requests == []


async def test_send_refuses_nested_parameters_without_sending() -> None:
    sts, http = _transport()
    with pytest.raises(ValidationError, match="Tags"):
        await sts.send("AssumeRole", {"RoleArn": _ROLE, "RoleSessionName": "s", "Tags": [{"Key": "k"}]})
    assert http.requests == []


# --- replies -----------------------------------------------------------------------------------------


async def test_send_returns_parsed_reply_and_credentials_with_expiration() -> None:
    sts, _ = _transport(HttpResponse(200, {}, _OK))
    reply = await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert reply == {
        "Credentials": {
            "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
            "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
            "SessionToken": "IQoJb3JpZ2luX2VjEOz////////////////////wEXAMPLE==",
            "Expiration": "2023-11-14T23:13:20Z",
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROA3XFRBF535PLBIFPI4:s1",
            "Arn": "arn:aws:sts::111111111111:assumed-role/partner-x/s1",
        },
        "PackedPolicySize": 6,
        "SourceIdentity": "Alice",
    }
    creds = credentials_from_assume_role(reply)
    assert creds.access_key_id == "ASIAIOSFODNN7EXAMPLE"
    assert creds.session_token == "IQoJb3JpZ2luX2VjEOz////////////////////wEXAMPLE=="
    assert creds.expiration == _NOW + 3600


@pytest.mark.parametrize(
    ("expiration", "epoch"),
    [
        ("2023-11-14T23:13:20Z", _NOW + 3600),
        ("2023-11-14T23:13:20.500Z", _NOW + 3600.5),
        ("2023-11-14T23:13:20+00:00", _NOW + 3600),
        ("2023-11-15T00:13:20+01:00", _NOW + 3600),
        (datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC), _NOW + 3600),
        (datetime(2023, 11, 14, 23, 13, 20), _NOW + 3600),  # naive: STS times are UTC
        (datetime(2023, 11, 15, 1, 13, 20, tzinfo=timezone(timedelta(hours=2))), _NOW + 3600),
        (_NOW + 3600, _NOW + 3600),
    ],
)
def test_credentials_from_assume_role_reads_every_expiration_shape(expiration: object, epoch: float) -> None:
    reply = {
        "Credentials": {
            "AccessKeyId": "A",
            "SecretAccessKey": "S",
            "SessionToken": "T",
            "Expiration": expiration,
        }
    }
    assert credentials_from_assume_role(reply).expiration == epoch


def test_parse_assume_role_accepts_prefixed_namespaces() -> None:
    prefixed = _OK.replace(b"<", b"<sts:").replace(b"<sts:/", b"</sts:").replace(b'xmlns="', b'xmlns:sts="')
    assert parse_assume_role(prefixed)["Credentials"]["AccessKeyId"] == "ASIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<AssumeRoleResponse><AssumeRoleResult>",
        b"not xml at all",
        _OK.replace(b"<SessionToken>IQoJb3JpZ2luX2VjEOz////////////////////wEXAMPLE==</SessionToken>", b""),
        b'<!DOCTYPE lolz [<!ENTITY lol "lol">]><AssumeRoleResponse>&lol;</AssumeRoleResponse>',
    ],
)
async def test_send_raises_retryable_transport_error_when_success_reply_is_malformed(body: bytes) -> None:
    sts, _ = _transport(HttpResponse(200, {}, body))
    with pytest.raises(TransportError) as caught:
        await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert caught.value.operation == "AssumeRole"
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("status", "code", "cls", "retryable"),
    [
        (403, "AccessDenied", AccessDenied, False),
        (400, "ExpiredToken", ExpiredToken, False),
        (400, "Throttling", Throttled, True),
        (500, "InternalFailure", ServiceError, True),
        (400, "RegionDisabledException", AwsError, False),
        (400, "MalformedPolicyDocument", AwsError, False),
    ],
)
async def test_send_maps_sts_error_code_through_from_response(
    status: int, code: str, cls: type[AwsError], retryable: bool
) -> None:
    sts, _ = _transport(
        HttpResponse(status, {"x-amzn-requestid": "req-1"}, _error_xml(code, "why it failed"))
    )
    with pytest.raises(AwsError) as caught:
        await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    error = caught.value
    assert type(error) is cls
    assert (error.code, error.message, error.operation, error.status) == (
        code,
        "why it failed",
        "AssumeRole",
        status,
    )
    assert error.request_id == "req-1"
    assert error.retryable is retryable


async def test_error_request_id_falls_back_to_the_xml_body() -> None:
    sts, _ = _transport(HttpResponse(403, {}, _error_xml("AccessDenied", "no")))
    with pytest.raises(AccessDenied) as caught:
        await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert caught.value.request_id == "4f2e9a4b-0000-0000-0000-000000000000"


async def test_non_xml_error_keeps_status_and_never_echoes_the_page() -> None:
    sts, _ = _transport(HttpResponse(503, {}, b"<html><body>secret proxy page</body>"))
    with pytest.raises(ServiceError) as caught:
        await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert caught.value.status == 503
    assert caught.value.retryable
    assert "secret proxy page" not in str(caught.value)


async def test_expired_token_invalidates_the_base_credentials() -> None:
    provider = _Provider()
    http = _FakeHttp(
        HttpResponse(
            400, {}, _error_xml("ExpiredToken", "The security token included in the request is expired")
        )
    )
    sts = StsTransport("us-east-1", provider, http=http, clock=lambda: _NOW)  # type: ignore[arg-type]
    with pytest.raises(ExpiredToken):
        await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert provider.invalidations == 1


async def test_wire_failure_is_reraised_with_the_operation_name() -> None:
    sts, _ = _transport(TransportError("connection reset", retryable=True, outcome_unknown=True))
    with pytest.raises(TransportError, match="AssumeRole: connection reset") as caught:
        await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert (caught.value.operation, caught.value.retryable, caught.value.outcome_unknown) == (
        "AssumeRole",
        True,
        True,
    )


def _stale() -> StaleConnection:
    return StaleConnection("pooled connection closed by the server", retryable=True, outcome_unknown=True)


async def test_send_resends_once_and_returns_the_reply_when_pooled_connection_was_stale() -> None:
    transport, http = _transport(_stale(), HttpResponse(200, {}, _OK))
    reply = await transport.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert reply["Credentials"]["AccessKeyId"] == "ASIAIOSFODNN7EXAMPLE"
    assert len(http.requests) == 2
    assert http.requests[0] == http.requests[1]


async def test_send_raises_unknown_outcome_error_when_resent_request_is_stale_again() -> None:
    transport, http = _transport(_stale(), _stale(), HttpResponse(200, {}, _OK))
    with pytest.raises(TransportError) as info:
        await transport.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    assert len(http.requests) == 2  # once resent, never twice
    assert info.value.operation == "AssumeRole"
    assert info.value.retryable
    assert info.value.outcome_unknown
    assert isinstance(info.value.__cause__, StaleConnection)


async def test_call_retries_throttling_then_returns_the_reply() -> None:
    sts, http = _transport(
        HttpResponse(400, {}, _error_xml("Throttling", "Rate exceeded")), HttpResponse(200, {}, _OK)
    )
    policy = RetryPolicy(max_attempts=3, sleep=_no_sleep, random=lambda: 0.0)
    reply = await call(sts, "AssumeRole", build_assume_role_payload(_ROLE, "s1"), policy)
    assert reply["Credentials"]["AccessKeyId"] == "ASIAIOSFODNN7EXAMPLE"
    assert len(http.requests) == 2


# --- endpoints and lifecycle -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "explicit", "expected"),
    [
        ({}, None, "https://sts.us-east-1.amazonaws.com"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, None, "http://127.0.0.1:5000"),
        (
            {"AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_STS": "http://sts-only:2"},
            None,
            "http://sts-only:2",
        ),
        ({"AWS_ENDPOINT_URL_STS": "http://sts-only:2"}, "http://explicit:3", "http://explicit:3"),
        (
            {"AWS_ENDPOINT_URL_STS": "http://sts-only:2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
            None,
            "https://sts.us-east-1.amazonaws.com",
        ),
    ],
)
def test_sts_url_resolution_order(environ: dict[str, str], explicit: str | None, expected: str) -> None:
    assert sts_url("us-east-1", explicit, environ) == expected


def test_sts_url_uses_the_china_partition_suffix() -> None:
    assert sts_url("cn-north-1", None, {}) == "https://sts.cn-north-1.amazonaws.com.cn"


def test_sts_url_refuses_a_malformed_region() -> None:
    with pytest.raises(ValidationError):
        sts_url("us-east-1/evil", None, {})


async def test_endpoint_url_with_port_is_signed_with_its_host_and_port() -> None:
    sts, http = _transport(HttpResponse(200, {}, _OK), endpoint_url="http://127.0.0.1:5000")
    await sts.send("AssumeRole", build_assume_role_payload(_ROLE, "s1"))
    [(_, url, headers, _)] = http.requests
    assert url == "http://127.0.0.1:5000"
    assert headers["host"] == "127.0.0.1:5000"


def test_endpoint_url_with_query_is_refused() -> None:
    with pytest.raises(ValidationError):
        StsTransport("us-east-1", StaticProvider(_BASE), endpoint_url="https://sts.example.com/?x=1")


async def test_close_leaves_a_shared_client_open() -> None:
    sts, http = _transport()
    await sts.close()
    assert not http.closed


def test_repr_names_region_and_endpoint_only() -> None:
    sts, _ = _transport(endpoint_url="http://127.0.0.1:5000")
    text = repr(sts)
    assert "eu-west-1" in text
    assert "127.0.0.1:5000" in text
    assert "base-secret" not in text
