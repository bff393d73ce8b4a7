"""KMS on the lean wire against a local server: JSON 1.1 target, SigV4 for `kms`, endpoint resolution."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest

from aiotheory._call import call
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.errors import AwsError, ValidationError
from aiotheory.retries import RetryPolicy
from aiotheory.testing._faultserver import FaultServer, Reply
from aiotheory.transport._kms import KmsTransport, kms_url
from aiotheory.transport._pool import HttpClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

CREDS = Credentials(access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG")


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient(read_timeout=2.0, proxies_from_env=False)
    try:
        yield client
    finally:
        await client.close()


def _kms(srv: FaultServer, http: HttpClient) -> KmsTransport:
    return KmsTransport(
        "eu-west-1", endpoint_url=srv.url, credentials=StaticProvider(CREDS), http=http, clock=lambda: 1.7e9
    )


async def test_send_posts_trent_service_target_signed_for_kms_when_generating_a_data_key(
    http: HttpClient,
) -> None:
    plain = base64.b64encode(b"\x01" * 32).decode()
    async with FaultServer(
        Reply(body=b'{"Plaintext":"' + plain.encode() + b'","CiphertextBlob":"ZWRr"}')
    ) as srv:
        reply = await call(
            _kms(srv, http), "GenerateDataKey", {"KeyId": "k", "KeySpec": "AES_256"}, RetryPolicy()
        )
    assert reply["Plaintext"] == plain
    (req,) = srv.requests
    assert req.body == b'{"KeyId":"k","KeySpec":"AES_256"}'
    assert req.headers["content-type"] == "application/x-amz-json-1.1"
    assert req.headers["x-amz-target"] == "TrentService.GenerateDataKey"
    assert "/eu-west-1/kms/aws4_request" in req.headers["authorization"]


async def test_send_raises_aws_error_with_kms_code_when_kms_refuses(http: HttpClient) -> None:
    body = b'{"__type":"InvalidCiphertextException","message":"bad"}'
    async with FaultServer(Reply(status=400, body=body)) as srv:
        with pytest.raises(AwsError) as failed:
            await _kms(srv, http).send("Decrypt", {"CiphertextBlob": "eA=="})
    assert (failed.value.code, failed.value.operation) == ("InvalidCiphertextException", "Decrypt")


def test_kms_url_resolves_explicit_then_environment_then_region_when_endpoints_are_configured() -> None:
    env = {"AWS_ENDPOINT_URL_KMS": "http://kms.local", "AWS_ENDPOINT_URL": "http://all.local"}
    assert kms_url("us-east-1", "http://x", env) == "http://x"
    assert kms_url("us-east-1", None, env) == "http://kms.local"
    assert kms_url("us-east-1", None, {"AWS_ENDPOINT_URL": "http://all.local"}) == "http://all.local"
    ignored = {**env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    assert kms_url("cn-north-1", None, ignored) == "https://kms.cn-north-1.amazonaws.com.cn"
    with pytest.raises(ValidationError):
        kms_url("bad region", None, {})
