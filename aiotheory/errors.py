"""Every exception aiotheory raises, and the one mapper from an AWS error reply to them.

Imports nothing heavy and nothing from the rest of the package, so every layer can raise these.

    AiotheoryError
    ├── ValidationError (ValueError)        a value does not fit a model or DynamoDB's rules
    │   ├── DecodeError                     ... on the way back: an item read does not fit its model
    │   │   ├── DecryptionFailed            an Encrypted attribute's envelope is malformed, moved or tampered
    │   │   ├── KeyTemplateMismatch         a key does not have its Template's shape; .template
    │   │   └── UnknownEntity               a collection read an item of no member type; .entity
    │   ├── EncryptionNotConfigured         a model has Encrypted fields and no KMS key is configured
    │   └── KeyChanged                      db.save of a model whose key differs from the item it was read as
    ├── ItemNotFound (LookupError)          get/update of a key that holds no item
    ├── DeadlineExceeded (TimeoutError)     the deadline scope ran out; names the operation
    ├── TransportError (ConnectionError)    the wire failed before a reply could be read
    │   ├── OutcomeUnknown                  a write was sent and its reply lost: it may have been applied
    │   └── ReplyMismatch                   a reply that is not the answer to our request (another key)
    ├── UnprocessedItems                    what a batch could not do after its retries
    ├── CredentialsError                    no credentials, or they could not be refreshed
    ├── AccountNotFound (LookupError)       an unknown partner / account id
    ├── MissingExtra (ImportError)          an optional dependency is not installed; .extra names the extra
    ├── TableSchemaMismatch                 ensure_table found a table whose schema differs from the model
    ├── DmsMismatch (AssertionError)        dms.assert_equivalent: a model differs from its DMS model
    ├── IdempotencyError                    IdempotencyStore: .record_id names the record
    │   ├── IdempotencyInProgress           the key is being handled by a live invocation
    │   ├── IdempotencyKeyMismatch (ValueError)   the key was used with another request payload
    │   └── IdempotencyReplyNotStored       the key ran, but its reply could not be stored to replay
    ├── LeaseHeld                           db.lease: another holder has the lease; .expires says until when
    ├── LeaseNotOwned                       db.lease: the lease was taken over (or lapsed) while we held it
    └── AwsError                            AWS answered with an error: .code, .message, .operation, .status
        ├── ConditionFailed                 ConditionalCheckFailedException; .old (decoded), .old_item (raw)
        ├── TransactionCanceled             TransactionCanceledException; .reasons, one per action
        │                                   (retried when every reason is TransactionConflict or None)
        ├── Throttled                       throttling of any kind; .code tells which
        ├── ResourceNotFound                the table or index does not exist
        ├── ResourceInUse                   the table exists already / is being changed
        ├── ExpiredToken                    temporary credentials expired
        ├── AccessDenied                    the credentials may not do this
        ├── ServiceError                    a 5xx from AWS
        └── AwsValidationError              AWS refused the request as malformed
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "AccessDenied",
    "AccountNotFound",
    "AiotheoryError",
    "AwsError",
    "AwsValidationError",
    "CancellationReason",
    "ConditionFailed",
    "CredentialsError",
    "DeadlineExceeded",
    "DecodeError",
    "DecryptionFailed",
    "DmsMismatch",
    "EncryptionNotConfigured",
    "ExpiredToken",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyKeyMismatch",
    "IdempotencyReplyNotStored",
    "ItemNotFound",
    "KeyChanged",
    "KeyTemplateMismatch",
    "LeaseHeld",
    "LeaseNotOwned",
    "MissingExtra",
    "OutcomeUnknown",
    "ReplyMismatch",
    "ResourceInUse",
    "ResourceNotFound",
    "ServiceError",
    "TableSchemaMismatch",
    "Throttled",
    "TransactionCanceled",
    "TransportError",
    "UnknownEntity",
    "UnprocessedItems",
    "ValidationError",
    "from_response",
    "is_throttling",
]


class AiotheoryError(Exception):
    """Base of every error aiotheory raises."""


class ValidationError(AiotheoryError, ValueError):
    """A value does not fit a model or DynamoDB's rules.

    Raised before any request for bad input (a model definition, key, value, expression or limit),
    and, as its subclass DecodeError, after a read whose item does not fit the model.
    """


class KeyChanged(ValidationError):
    """`db.save` / `tx.save` of a model whose key fields differ from the item it was read as.

    A save writes the changes of one stored item; it cannot move the item to another key. Raised
    before any request. Write the item under its new key with `create` (and delete the old one).
    """


class DecodeError(ValidationError):
    """An item read from the table does not fit its model (missing required field or wrong type).

    The same mismatch as a ValidationError, found in the other direction: the data is wrong, not the
    request, so nothing needs reconciling; `table`, `key` and `field` say where (never the value).
    """

    def __init__(
        self, message: str, *, table: str | None = None, key: object = None, field: str | None = None
    ):
        super().__init__(message)
        self.table = table
        self.key = key
        self.field = field


class DecryptionFailed(DecodeError):
    """An Encrypted attribute could not be opened: not an envelope, another version, or the AES-GCM
    tag did not verify (the envelope was moved to another attribute, or its bytes were changed).

    `table`, `key` and `field` say where; the message never holds the envelope or any key material.
    """


class EncryptionNotConfigured(ValidationError):
    """A model with Encrypted fields was used with no KMS key (`DB(kms_key_id=...)` or the model's
    `kms_key_id=`); raised before any request is sent, so nothing is written in the clear."""


class KeyTemplateMismatch(DecodeError):
    """A key attribute does not have the shape of its `Template` (`.template` is the pattern)."""

    def __init__(
        self,
        message: str,
        *,
        template: str,
        table: str | None = None,
        key: object = None,
        field: str | None = None,
    ):
        super().__init__(message, table=table, key=key, field=field)
        self.template = template


class UnknownEntity(DecodeError):
    """A collection read an item whose discriminator names none of its models (`.entity`; None if absent)."""

    def __init__(self, message: str, *, entity: str | None, table: str | None = None, key: object = None):
        super().__init__(message, table=table, key=key)
        self.entity = entity


class ItemNotFound(AiotheoryError, LookupError):
    """No item has the requested key."""

    def __init__(self, message: str, *, table: str | None = None, key: object = None):
        super().__init__(message)
        self.table = table
        self.key = key


class DeadlineExceeded(AiotheoryError, TimeoutError):
    """The deadline scope expired during `operation`.

    `outcome_unknown` is True when a write had been sent and no reply was read: it may or may not have
    been applied, so the caller reconciles (a conditional create or an idempotency token makes a retry safe).
    """

    def __init__(self, operation: str, *, outcome_unknown: bool = False):
        detail = " (the write may or may not have been applied)" if outcome_unknown else ""
        super().__init__(f"deadline exceeded during {operation}{detail}")
        self.operation = operation
        self.outcome_unknown = outcome_unknown


class TransportError(AiotheoryError, ConnectionError):
    """The connection failed before a full reply was read (reset, refused, bad checksum, TLS failure).

    `retryable` says whether resending is safe for the retry loop to try; `outcome_unknown` whether the
    request may have reached the server.
    """

    def __init__(
        self, message: str, *, operation: str = "", retryable: bool = True, outcome_unknown: bool = False
    ):
        super().__init__(message)
        self.operation = operation
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown

    def for_operation(self, operation: str) -> TransportError:
        """This wire failure as the named operation's (the caller raises it `from` this one), with the
        same `retryable` and `outcome_unknown`: the transports' one translation of the HTTP layer's."""
        return TransportError(
            f"{operation}: {self}",
            operation=operation,
            retryable=self.retryable,
            outcome_unknown=self.outcome_unknown,
        )


class OutcomeUnknown(TransportError):
    """A write left and no reply came back, and resending it blindly could apply it twice.

    Raised instead of resending a write that is not idempotent (an ADD, a list append, arithmetic
    in SET) and for any write whose attempts all ended without a usable reply. The write may or may
    not have been applied: read the item and decide, or use `db.update(..., idempotent=True)`, which
    DynamoDB deduplicates. `table` and `key` (AttributeValue map, or None) name the item concerned.
    """

    def __init__(
        self, message: str, *, operation: str, table: str | None = None, key: dict[str, Any] | None = None
    ):
        super().__init__(message, operation=operation, retryable=False, outcome_unknown=True)
        self.table = table
        self.key = key


class ReplyMismatch(TransportError):
    """The reply names another item than the one asked for: the connection was out of step.

    Retried like any lost reply (reads are resent; writes follow the outcome-unknown rule).
    """

    def __init__(self, message: str, *, operation: str):
        super().__init__(message, operation=operation, retryable=True, outcome_unknown=True)


class UnprocessedItems(AiotheoryError):
    """A batch ended with work it cannot say was done; nothing is dropped silently.

    `items` holds the work DynamoDB certainly did not do (safe to send again); `unknown` the work whose
    request left without a usable reply, which may have been applied (puts and deletes are
    idempotent, so resending it is safe too, but it must not be reported as not written).
    """

    def __init__(
        self, message: str, *, items: list[Any], unknown: list[Any] | None = None, operation: str = ""
    ):
        super().__init__(message)
        self.items = items
        self.unknown = [] if unknown is None else unknown
        self.operation = operation


class CredentialsError(AiotheoryError):
    """No credentials could be resolved, or refreshing them failed when they were needed."""


class AccountNotFound(AiotheoryError, LookupError):
    """The partner or account id is not configured."""

    def __init__(self, account_id: str):
        super().__init__(f"unknown partner: {account_id}")
        self.account_id = account_id


class MissingExtra(AiotheoryError, ImportError):
    """An optional dependency is missing; the message says what to install, e.g. `aiotheory[botocore]`.

    Raised where the feature is chosen (`DB(transport="botocore")`, `MotoServer()`), not at first use.
    """

    def __init__(self, message: str, *, extra: str, name: str) -> None:
        super().__init__(message, name=name)
        self.extra = extra


class TableSchemaMismatch(AiotheoryError):
    """ensure_table found a table whose keys or indexes differ from the model; `differences` says how."""

    def __init__(self, table: str, differences: list[str]):
        super().__init__(f"table {table!r} does not match its model: " + "; ".join(differences))
        self.table = table
        self.differences = differences


class DmsMismatch(AiotheoryError, AssertionError):
    """`dms.assert_equivalent`: a model is not equivalent to its DMS model; `differences` lists each one."""

    def __init__(self, model: str, differences: list[str]):
        super().__init__(f"{model} differs from its DMS model:\n  " + "\n  ".join(differences))
        self.model = model
        self.differences = differences


class IdempotencyError(AiotheoryError):
    """Base of the idempotency store's errors; `record_id` names the record (a hash, never the event)."""

    def __init__(self, message: str, *, record_id: str) -> None:
        super().__init__(message)
        self.record_id = record_id


class IdempotencyInProgress(IdempotencyError):
    """Another invocation holds this key's in-progress lease; nothing was run.

    `lease_ends_ms` is when that lease ends (epoch milliseconds, None when the record has none): a
    retry after it runs the function unless the other invocation completed first.
    """

    def __init__(self, message: str, *, record_id: str, lease_ends_ms: int | None) -> None:
        super().__init__(message, record_id=record_id)
        self.lease_ends_ms = lease_ends_ms


class IdempotencyKeyMismatch(IdempotencyError, ValueError):
    """The idempotency key was seen with another request payload (its hash differs); nothing was run."""


class IdempotencyReplyNotStored(IdempotencyError):
    """The key's function ran and its first caller got the reply, but the reply could not be stored
    (over DynamoDB's 400 KB item size, or not JSON), so a repeat cannot replay it; nothing was run."""


class LeaseHeld(AiotheoryError):
    """`db.lease(name)` found the lease held by another holder whose expiry has not passed.

    `expires` is that holder's expiry in epoch seconds (wall clock), so a caller can tell how long to
    wait; `name` and `table` name the lease.
    """

    def __init__(self, name: str, *, table: str, expires: float):
        super().__init__(f"lease {name!r} in {table} is held until {expires:.3f} (epoch seconds)")
        self.name = name
        self.table = table
        self.expires = expires


class LeaseNotOwned(AiotheoryError):
    """The lease is no longer ours: another holder took it over after it lapsed, or its refreshes
    could not reach DynamoDB before it expired. Work done under it may have overlapped another holder's;
    `token` is the fencing token we held.
    """

    def __init__(self, message: str, *, name: str, table: str, token: int):
        super().__init__(message)
        self.name = name
        self.table = table
        self.token = token


class AwsError(AiotheoryError):
    """AWS answered with an error. `code` is the `__type` suffix, e.g. `ConditionalCheckFailedException`."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        operation: str,
        status: int = 400,
        request_id: str | None = None,
        body: dict[str, Any] | None = None,
    ):
        super().__init__(f"{operation}: {code}: {message}" if message else f"{operation}: {code}")
        self.code = code
        self.message = message
        self.operation = operation
        self.status = status
        self.request_id = request_id
        self.body = body if body is not None else {}
        #: True when an earlier attempt of the same call left without a usable reply, so this refusal
        #: may be DynamoDB answering our own first write (set by the one call function before raising).
        self.outcome_unknown = False

    @property
    def retryable(self) -> bool:
        """Whether the standard retry policy may resend the request."""
        return self.code in _RETRYABLE_CODES or self.status >= 500


class ConditionFailed(AwsError):
    """A condition did not hold.

    `old_item` is the item DynamoDB returned with the failure (`ReturnValuesOnConditionCheckFailure`;
    AttributeValue map, or None when none was sent); when not given it is read from the reply body's
    `Item`, so `from_response` sets it. `old` is that item decoded into its model, when the DB knew
    the model and the item fits it (else None).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "ConditionalCheckFailedException",
        operation: str,
        status: int = 400,
        request_id: str | None = None,
        body: dict[str, Any] | None = None,
        old_item: dict[str, Any] | None = None,
        old: object = None,
    ):
        super().__init__(
            message, code=code, operation=operation, status=status, request_id=request_id, body=body
        )
        if old_item is None:
            raw = self.body.get("Item")
            old_item = raw if isinstance(raw, dict) else None
        self.old_item = old_item
        self.old = old


@dataclass(frozen=True, slots=True, kw_only=True)
class CancellationReason:
    """Why one action of a transaction was canceled; `code` is None for actions that did not fail."""

    index: int
    code: str | None
    message: str | None = None
    item: dict[str, Any] | None = None
    action: object = None


class TransactionCanceled(AwsError):
    """A transaction was canceled; `reasons` has one entry per action, in the order they were added.

    It is `retryable` when concurrent transactions alone canceled it: every reason is
    TransactionConflict or None. Nothing was applied, so resending the same request (the same
    ClientRequestToken) may commit, as TableTheory does; any other reason is final.
    """

    @property
    def retryable(self) -> bool:
        conflicted = False
        for reason in self.body.get("CancellationReasons") or ():
            code = reason.get("Code")
            if code == "TransactionConflict":
                conflicted = True
            elif code not in (None, "None"):
                return False
        return conflicted

    @property
    def reasons(self) -> list[CancellationReason]:
        raw = self.body.get("CancellationReasons") or []
        out: list[CancellationReason] = []
        for i, r in enumerate(raw):
            code = r.get("Code")
            out.append(
                CancellationReason(
                    index=i,
                    code=None if code in (None, "None") else code,
                    message=r.get("Message"),
                    item=r.get("Item"),
                )
            )
        return out


class Throttled(AwsError):
    """DynamoDB or STS throttled the request (`.code` tells which kind)."""


class ResourceNotFound(AwsError):
    """The table, index or stream does not exist (or is not yet active).

    `table` is the table name as sent, with the DB's prefix (set by the one call function from the
    request's `TableName`; None for a request that names no single table), and the message says it:
    a missing prefix is the usual cause.
    """

    table: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        table = self.table
        if table is None or repr(table) in text:
            return text
        return f"{text} (table {table!r})"


class ResourceInUse(AwsError):
    """The table exists already, or is being created, updated or deleted."""


class ExpiredToken(AwsError):
    """The temporary credentials expired; the credential cache refreshes once and the call is retried."""


class AccessDenied(AwsError):
    """The credentials are valid but may not perform this operation."""


class ServiceError(AwsError):
    """AWS failed on its side (5xx)."""


class AwsValidationError(AwsError):
    """AWS rejected the request as malformed (`ValidationException`)."""


# botocore's standard retry mode: these codes are transient (plus any 5xx status).
_THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_TRANSIENT_CODES: Final = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "InternalServerErrorException",
    }
)
_RETRYABLE_CODES: Final = _THROTTLING_CODES | _TRANSIENT_CODES

_BY_CODE: Final[dict[str, type[AwsError]]] = {
    "ConditionalCheckFailedException": ConditionFailed,
    "TransactionCanceledException": TransactionCanceled,
    "ResourceNotFoundException": ResourceNotFound,
    "ResourceInUseException": ResourceInUse,
    "TableAlreadyExistsException": ResourceInUse,
    "ExpiredTokenException": ExpiredToken,
    "ExpiredToken": ExpiredToken,
    "AccessDeniedException": AccessDenied,
    "AccessDenied": AccessDenied,
    "UnrecognizedClientException": AccessDenied,
    "InvalidClientTokenId": AccessDenied,
    "ValidationException": AwsValidationError,
    "ValidationError": AwsValidationError,
    "SerializationException": AwsValidationError,
    "InternalServerError": ServiceError,
    "InternalFailure": ServiceError,
    "ServiceUnavailable": ServiceError,
    **dict.fromkeys(_THROTTLING_CODES, Throttled),
}


def is_throttling(code: str) -> bool:
    """Whether `code` is one of the throttling codes (adaptive retry mode slows down on these)."""
    return code in _THROTTLING_CODES


def from_response(
    operation: str, status: int, body: dict[str, Any] | None, *, request_id: str | None = None
) -> AwsError:
    """Build the error for an AWS error reply; both transports feed it the same shape.

    `body` is the parsed JSON error document (`__type`, `message`, and extras such as `Item` or
    `CancellationReasons`); for the query protocol (STS) the transport passes `{"__type": Code,
    "message": Message}`.
    """
    body = body or {}
    raw_type = str(body.get("__type") or body.get("code") or body.get("Code") or "")
    # JSON 1.0 error types look like "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException".
    code = raw_type.rpartition("#")[2] or ("ServiceUnavailable" if status >= 500 else "UnknownError")
    message = str(body.get("message") or body.get("Message") or "")
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServiceError if status >= 500 else AwsError
    return cls(message, code=code, operation=operation, status=status, request_id=request_id, body=body)
