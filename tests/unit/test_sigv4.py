"""SigV4: AWS's published test-suite vectors, then botocore's SigV4Auth as an oracle over random requests."""

from __future__ import annotations

import calendar
import hashlib
import hmac
from datetime import datetime
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotheory.credentials import Credentials
from aiotheory.transport._sigv4 import SigV4Signer, amz_date, canonical_query, uri_encode

_DATA = Path(__file__).parent / "data" / "sigv4"
_SUITE_CREDS = Credentials(
    access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)
_SUITE_DATE = "20150830T123600Z"
_CASES = sorted(p.stem for p in _DATA.glob("*.req"))
_WITH_CREQ = sorted(p.stem for p in _DATA.glob("*.creq"))


class _SuiteRequest:
    """A parsed `.req` file, split into what `SigV4Signer.sign` takes."""

    def __init__(self, name: str) -> None:
        text = (_DATA / f"{name}.req").read_text(encoding="utf-8")
        head, _, body = text.partition("\n\n")
        request_line, *header_lines = head.split("\n")
        self.method, _, rest = request_line.partition(" ")
        target = rest[: rest.rindex(" HTTP/1.1")]
        self.path, _, raw_query = target.partition("?")
        pairs = [pair.partition("=") for pair in raw_query.split("&")] if raw_query else []
        self.query = canonical_query((k, v) for k, _, v in pairs)
        merged: dict[str, list[str]] = {}
        for line in header_lines:
            name_, _, value = line.partition(":")
            merged.setdefault(name_.lower(), []).append(value.strip())
        self.date = merged.pop("x-amz-date")[0]
        token = merged.pop("x-amz-security-token", [None])[0]
        # Repeated headers are one header whose values are comma-joined (RFC 9110 5.3; the suite's .creq).
        self.headers = {k: ",".join(v) for k, v in merged.items()}
        self.body = body.encode("utf-8")
        self.creds = Credentials(
            access_key_id=_SUITE_CREDS.access_key_id,
            secret_access_key=_SUITE_CREDS.secret_access_key,
            session_token=token,
        )

    def sign(self, signer: SigV4Signer) -> dict[str, str]:
        return signer.sign(
            self.creds,
            self.method,
            "example.amazonaws.com",
            self.path,
            self.query,
            self.headers,
            self.body,
            self.date,
        )


def _expected(name: str, suffix: str) -> str:
    return (_DATA / f"{name}.{suffix}").read_text(encoding="utf-8")


def test_suite_holds_the_named_cases_when_loaded_from_data() -> None:
    assert len(_CASES) >= 25
    for name in (
        "post-x-www-form-urlencoded",
        "post-x-www-form-urlencoded-parameters",
        "post-vanilla",
        "get-vanilla",
        "post-sts-header-before",
        "get-vanilla-query-order-key-case",
    ):
        assert name in _CASES


@pytest.mark.parametrize("name", _CASES)
def test_sign_matches_published_authorization_when_signing_suite_request(name: str) -> None:
    request = _SuiteRequest(name)
    added = request.sign(SigV4Signer("us-east-1", "service"))
    assert added["authorization"] == _expected(name, "authz")
    assert added["x-amz-date"] == _SUITE_DATE
    if request.creds.session_token:
        assert added["x-amz-security-token"] == request.creds.session_token
    else:
        assert "x-amz-security-token" not in added
    assert set(added) <= {"authorization", "x-amz-date", "x-amz-security-token"}


@pytest.mark.parametrize("name", _WITH_CREQ)
def test_canonical_request_and_string_to_sign_match_suite_when_published(name: str) -> None:
    request = _SuiteRequest(name)
    signer = SigV4Signer("us-east-1", "service")
    creq = signer.canonical_request(
        request.creds,
        request.method,
        "example.amazonaws.com",
        request.path,
        request.query,
        request.headers,
        request.body,
        request.date,
    )
    assert creq == _expected(name, "creq")
    assert signer.string_to_sign(creq, request.date) == _expected(name, "sts")


def test_sign_adds_and_signs_session_token_when_credentials_carry_one() -> None:
    creds = Credentials(access_key_id="AKID", secret_access_key="s", session_token="tok  en")
    added = SigV4Signer("eu-west-1", "dynamodb").sign(
        creds, "POST", "h", "/", "", {"host": "h"}, b"{}", "20240101T000000Z"
    )
    assert added["x-amz-security-token"] == "tok  en"
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in added["authorization"]


def test_sign_treats_empty_session_token_as_none() -> None:
    creds = Credentials(access_key_id="AKID", secret_access_key="s", session_token="")
    added = SigV4Signer("eu-west-1", "dynamodb").sign(
        creds, "POST", "h", "/", "", {"host": "h"}, b"{}", "20240101T000000Z"
    )
    assert "x-amz-security-token" not in added


def test_sign_signs_host_argument_when_headers_lack_host() -> None:
    signer = SigV4Signer("us-east-1", "service")
    with_header = signer.sign(
        _SUITE_CREDS,
        "GET",
        "example.amazonaws.com",
        "/",
        "",
        {"host": "example.amazonaws.com"},
        b"",
        _SUITE_DATE,
    )
    from_argument = signer.sign(_SUITE_CREDS, "GET", "example.amazonaws.com", "/", "", {}, b"", _SUITE_DATE)
    assert from_argument == with_header


def test_sign_does_not_mutate_headers() -> None:
    headers = {"host": "h", "x-amz-target": "DynamoDB_20120810.GetItem"}
    SigV4Signer("us-east-1", "dynamodb").sign(_SUITE_CREDS, "POST", "h", "/", "", headers, b"{}", _SUITE_DATE)
    assert headers == {"host": "h", "x-amz-target": "DynamoDB_20120810.GetItem"}


def test_signing_key_is_derived_once_per_key_id_and_date() -> None:
    signer = SigV4Signer("us-east-1", "dynamodb")
    for _ in range(3):
        signer.sign(_SUITE_CREDS, "POST", "h", "/", "", {"host": "h"}, b"{}", "20240101T000000Z")
        signer.sign(_SUITE_CREDS, "POST", "h", "/", "", {"host": "h"}, b"{}", "20240101T235959Z")
    assert list(signer._keys) == [("AKIDEXAMPLE", "20240101")]
    signer.sign(_SUITE_CREDS, "POST", "h", "/", "", {"host": "h"}, b"{}", "20240102T000000Z")
    assert list(signer._keys) == [("AKIDEXAMPLE", "20240101"), ("AKIDEXAMPLE", "20240102")]


def test_signing_key_cache_never_serves_another_secret_under_the_same_key_id() -> None:
    signer = SigV4Signer("us-east-1", "dynamodb")
    other = Credentials(access_key_id="AKIDEXAMPLE", secret_access_key="another secret")
    first = signer.sign(_SUITE_CREDS, "POST", "h", "/", "", {"host": "h"}, b"{}", _SUITE_DATE)
    second = signer.sign(other, "POST", "h", "/", "", {"host": "h"}, b"{}", _SUITE_DATE)
    fresh = SigV4Signer("us-east-1", "dynamodb").sign(
        other, "POST", "h", "/", "", {"host": "h"}, b"{}", _SUITE_DATE
    )
    assert second == fresh
    assert second["authorization"] != first["authorization"]


def test_signing_key_matches_the_four_hmac_derivation() -> None:
    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    expected = h(h(h(h(b"AWS4secret", "20240229"), "ap-south-1"), "sts"), "aws4_request")
    creds = Credentials(access_key_id="AKID", secret_access_key="secret")
    assert SigV4Signer("ap-south-1", "sts")._signing_key(creds, "20240229") == expected


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0.0, "19700101T000000Z"),
        (1440938160.0, "20150830T123600Z"),
        (1440938160.999, "20150830T123600Z"),
        (1709251199.5, "20240229T235959Z"),
        (4102444800.0, "21000101T000000Z"),
    ],
)
def test_amz_date_formats_utc_second(epoch: float, text: str) -> None:
    assert amz_date(epoch) == text


def test_amz_date_changes_when_the_second_changes() -> None:
    assert amz_date(1440938160.2) == "20150830T123600Z"
    assert amz_date(1440938160.7) == "20150830T123600Z"
    assert amz_date(1440938161.0) == "20150830T123601Z"
    assert amz_date(1440938160.0) == "20150830T123600Z"


@pytest.mark.parametrize(
    ("text", "keep_slash", "encoded"),
    [
        ("abc-_.~XYZ019", False, "abc-_.~XYZ019"),
        ("a b", False, "a%20b"),
        ("a/b", False, "a%2Fb"),
        ("a/b", True, "a/b"),
        ("\u1234", False, "%E1%88%B4"),
        ("100%", False, "100%25"),
        ("arn:aws:iam::1:role/x+y=z", False, "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx%2By%3Dz"),
    ],
)
def test_uri_encode_keeps_only_unreserved(text: str, keep_slash: bool, encoded: str) -> None:
    assert uri_encode(text, keep_slash=keep_slash) == encoded


def test_canonical_query_sorts_by_encoded_name_then_value() -> None:
    assert canonical_query([("b", "2"), ("a", "y"), ("a", "X"), ("A", "1")]) == "A=1&a=X&a=y&b=2"
    assert canonical_query([]) == ""


# --- botocore's SigV4Auth as the oracle -------------------------------------------------------------

# Names the signer owns, and names botocore treats specially (Date, body checksum, its blacklist).
_RESERVED = frozenset(
    {
        "host",
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "date",
        "expect",
        "transfer-encoding",
        "user-agent",
        "x-amzn-trace-id",
    }
)
_segment = st.one_of(
    st.sampled_from(["", ".", "..", "a", "Items", "example space", "%20", "\u1234", "caf\u00e9"]),
    st.text(
        st.characters(codec="utf-8", exclude_characters="/?#\r\n", exclude_categories=("Cs", "Cc")),
        max_size=8,
    ),
)
_paths = st.lists(_segment, max_size=5).map(lambda parts: "/" + "/".join(parts))
_header_names = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True).filter(lambda n: n not in _RESERVED)
_header_values = st.text(
    st.characters(
        codec="utf-8",
        exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029",
        exclude_categories=("Cs", "Cc"),
    )
    | st.sampled_from(" \t"),
    max_size=24,
)
_query_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
_dates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))


def _botocore_sign(
    creds: Credentials,
    region: str,
    service: str,
    method: str,
    host: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    date: str,
) -> dict[str, str]:
    # add_auth minus its clock read: botocore takes the timestamp from request.context.
    url = f"https://{host}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    request.context["timestamp"] = date
    auth = SigV4Auth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token), service, region
    )
    auth._modify_request_before_signing(request)
    creq = auth.canonical_request(request)
    auth._inject_signature_to_request(request, auth.signature(auth.string_to_sign(request, creq), request))
    return {k.lower(): v for k, v in request.headers.items()}


@settings(max_examples=300, deadline=None)
@given(
    region=st.from_regex(r"[a-z]{2}-[a-z]{4,9}-[1-9]", fullmatch=True),
    service=st.from_regex(r"[a-z][a-z0-9-]{1,20}", fullmatch=True),
    when=_dates,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    host=st.sampled_from(
        ["dynamodb.us-east-1.amazonaws.com", "localhost:8000", "127.0.0.1:5000", "sts.amazonaws.com"]
    ),
    host_in_headers=st.booleans(),
    path=_paths,
    params=st.lists(st.tuples(_query_text, _query_text), max_size=4),
    headers=st.dictionaries(_header_names, _header_values, max_size=6),
    body=st.binary(max_size=300),
    key_id=st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True),
    secret=st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=40),
    token=st.none()
    | st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool),
)
def test_sign_equals_botocore_sigv4auth_for_random_requests(
    region: str,
    service: str,
    when: datetime,
    method: str,
    host: str,
    host_in_headers: bool,
    path: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    key_id: str,
    secret: str,
    token: str | None,
) -> None:
    creds = Credentials(access_key_id=key_id, secret_access_key=secret, session_token=token)
    date = when.strftime("%Y%m%dT%H%M%SZ")
    assert amz_date(calendar.timegm(when.timetuple())) == date
    query = canonical_query(params)
    if host_in_headers:
        headers = {**headers, "host": host}
    ours = SigV4Signer(region, service).sign(creds, method, host, path, query, headers, body, date)
    theirs = _botocore_sign(creds, region, service, method, host, path, query, headers, body, date)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"]
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")
