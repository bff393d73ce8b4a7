"""The exception taxonomy and the one AWS error mapper (aiotheory/errors.py)."""

from __future__ import annotations

import pytest

from aiotheory import errors
from aiotheory.errors import (
    AccountNotFound,
    AiotheoryError,
    AwsError,
    CancellationReason,
    ConditionFailed,
    DeadlineExceeded,
    DecodeError,
    ItemNotFound,
    ServiceError,
    TableSchemaMismatch,
    Throttled,
    TransactionCanceled,
    TransportError,
    UnprocessedItems,
    ValidationError,
    from_response,
    is_throttling,
)

_PREFIX = "com.amazonaws.dynamodb.v20120810#"


@pytest.mark.parametrize(("code", "cls"), sorted(errors._BY_CODE.items()), ids=sorted(errors._BY_CODE))
def test_from_response_maps_every_known_code_to_its_class(code: str, cls: type[AwsError]) -> None:
    body = {"__type": _PREFIX + code, "message": "what went wrong"}
    error = from_response("PutItem", 400, body, request_id="REQ123")
    assert type(error) is cls
    assert error.code == code
    assert error.operation == "PutItem"
    assert error.status == 400
    assert error.request_id == "REQ123"
    assert error.message == "what went wrong"
    assert error.body is body


@pytest.mark.parametrize(
    "raw_type",
    [
        "ConditionalCheckFailedException",
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "com.amazon.coral.service#ConditionalCheckFailedException",
    ],
)
def test_from_response_reads_the_code_with_or_without_a_namespace(raw_type: str) -> None:
    error = from_response("PutItem", 400, {"__type": raw_type})
    assert isinstance(error, ConditionFailed)
    assert error.code == "ConditionalCheckFailedException"


def test_from_response_reads_query_protocol_code_and_message() -> None:
    # STS (XML) errors are handed over as {"Code": ..., "Message": ...} by the transport.
    error = from_response("AssumeRole", 403, {"Code": "AccessDenied", "Message": "not allowed"})
    assert isinstance(error, errors.AccessDenied)
    assert (error.code, error.message) == ("AccessDenied", "not allowed")


def test_from_response_maps_unknown_codes_to_plain_aws_error_keeping_the_code() -> None:
    error = from_response("Query", 400, {"__type": _PREFIX + "BrandNewException", "message": "m"})
    assert type(error) is AwsError
    assert error.code == "BrandNewException"
    assert not error.retryable


def test_from_response_maps_unknown_5xx_codes_to_service_error() -> None:
    error = from_response("Query", 502, {"__type": "BadGateway"})
    assert type(error) is ServiceError
    assert error.code == "BadGateway"
    assert error.retryable


@pytest.mark.parametrize("body", [None, {}])
def test_from_response_without_body_on_5xx_is_service_unavailable(body: dict[str, str] | None) -> None:
    error = from_response("GetItem", 503, body)
    assert type(error) is ServiceError
    assert error.code == "ServiceUnavailable"
    assert error.status == 503
    assert error.body == {}
    assert error.retryable


def test_from_response_without_body_on_4xx_is_unknown_error() -> None:
    error = from_response("GetItem", 400, None)
    assert type(error) is AwsError
    assert error.code == "UnknownError"


def test_aws_error_message_names_operation_and_code() -> None:
    error = from_response("UpdateItem", 400, {"__type": _PREFIX + "ValidationException", "message": "bad"})
    assert str(error) == "UpdateItem: ValidationException: bad"
    assert str(from_response("UpdateItem", 400, {"__type": "X"})) == "UpdateItem: X"


def test_condition_failed_carries_the_old_item_when_returned() -> None:
    item = {"pk": {"S": "a"}, "secret": {"S": "do-not-print"}}
    body = {
        "__type": _PREFIX + "ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": item,
    }
    error = from_response("PutItem", 400, body)
    assert isinstance(error, ConditionFailed)
    assert error.old_item == item
    assert error.old is None  # decoding into a model is the DB's job
    assert "do-not-print" not in str(error)


def test_condition_failed_item_is_none_when_not_returned() -> None:
    error = from_response("PutItem", 400, {"__type": "ConditionalCheckFailedException"})
    assert isinstance(error, ConditionFailed)
    assert error.old_item is None


def test_condition_failed_keeps_old_and_old_item_when_given_at_construction() -> None:
    raw = {"pk": {"S": "a"}, "n": {"N": "1"}}
    decoded = object()
    error = ConditionFailed("failed", operation="TransactWriteItems", old_item=raw, old=decoded)
    assert (error.old_item, error.old) == (raw, decoded)
    assert error.code == "ConditionalCheckFailedException"
    assert error.body == {}


def test_condition_failed_old_item_wins_over_body_item_when_both_given() -> None:
    error = ConditionFailed(
        "failed", operation="PutItem", body={"Item": {"pk": {"S": "body"}}}, old_item={"pk": {"S": "kw"}}
    )
    assert error.old_item == {"pk": {"S": "kw"}}


def test_transaction_canceled_lists_one_reason_per_action() -> None:
    body = {
        "__type": _PREFIX + "TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed]",
        "CancellationReasons": [
            {"Code": "None"},
            {
                "Code": "ConditionalCheckFailed",
                "Message": "The conditional request failed",
                "Item": {"pk": {"S": "b"}},
            },
            {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"},
        ],
    }
    error = from_response("TransactWriteItems", 400, body)
    assert isinstance(error, TransactionCanceled)
    assert not isinstance(error, ConditionFailed)
    assert error.reasons == [
        CancellationReason(index=0, code=None),
        CancellationReason(
            index=1,
            code="ConditionalCheckFailed",
            message="The conditional request failed",
            item={"pk": {"S": "b"}},
        ),
        CancellationReason(
            index=2, code="ThrottlingError", message="Throughput exceeds the current capacity"
        ),
    ]


def test_transaction_canceled_without_reasons_has_an_empty_list() -> None:
    error = from_response("TransactWriteItems", 400, {"__type": "TransactionCanceledException"})
    assert isinstance(error, TransactionCanceled)
    assert error.reasons == []


@pytest.mark.parametrize("code", sorted(errors._THROTTLING_CODES))
def test_every_throttling_code_is_throttled_and_retryable(code: str) -> None:
    error = from_response("GetItem", 400, {"__type": code})
    assert isinstance(error, Throttled)
    assert error.retryable
    assert is_throttling(code)


def test_is_throttling_is_false_for_other_codes() -> None:
    assert not is_throttling("ConditionalCheckFailedException")
    assert not is_throttling("InternalServerError")


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ValidationError, ValueError),
        (DecodeError, ValueError),
        (ItemNotFound, LookupError),
        (AccountNotFound, LookupError),
        (DeadlineExceeded, TimeoutError),
        (TransportError, ConnectionError),
    ],
)
def test_errors_subclass_the_natural_builtin(cls: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(cls, builtin)
    assert issubclass(cls, AiotheoryError)


def test_every_exported_error_derives_from_aiotheory_error() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, AiotheoryError), name


def test_error_attributes_carry_what_the_caller_needs_next() -> None:
    assert DeadlineExceeded("Query").operation == "Query"
    assert DeadlineExceeded("PutItem", outcome_unknown=True).outcome_unknown
    assert "may or may not" in str(DeadlineExceeded("PutItem", outcome_unknown=True))
    assert UnprocessedItems("left over", items=[{"a": 1}], operation="BatchWriteItem").items == [{"a": 1}]
    assert AccountNotFound("partner9").account_id == "partner9"
    mismatch = TableSchemaMismatch("payments", ["hash key differs", "index by-status missing"])
    assert mismatch.differences == ["hash key differs", "index by-status missing"]
    assert "hash key differs; index by-status missing" in str(mismatch)
    wire = TransportError("reset", operation="PutItem", retryable=False, outcome_unknown=True)
    assert (wire.operation, wire.retryable, wire.outcome_unknown) == ("PutItem", False, True)
    decode = DecodeError("bad item", table="t", key={"pk": "a"}, field="amount")
    assert (decode.table, decode.key, decode.field) == ("t", {"pk": "a"}, "amount")
    missing = ItemNotFound("no item", table="t", key=("a", "b"))
    assert (missing.table, missing.key) == ("t", ("a", "b"))
