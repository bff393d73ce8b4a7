"""aiotheory: an async-first, Lambda-native asyncio ORM for Amazon DynamoDB.

The package face is lazy (PEP 562): `import aiotheory` loads no pydantic, botocore or HTTP library;
each public name imports its module on first touch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from ._version import __version__

if TYPE_CHECKING:
    from ._tables import MigrationPlan as MigrationPlan
    from ._tables import MigrationStep as MigrationStep
    from .accounts import AccountConfig as AccountConfig
    from .accounts import Accounts as Accounts
    from .accounts import PartnerLogFilter as PartnerLogFilter
    from .accounts import current_partner as current_partner
    from .accounts import partner_scope as partner_scope
    from .aws_lambda import lambda_handler as lambda_handler
    from .credentials import AssumeRoleProvider as AssumeRoleProvider
    from .credentials import Credentials as Credentials
    from .db import DB as DB
    from .deadlines import deadline as deadline
    from .encryption import DataKeyPolicy as DataKeyPolicy
    from .entities import Collection as Collection
    from .entities import Template as Template
    from .entities import template_of as template_of
    from .errors import AccessDenied as AccessDenied
    from .errors import AccountNotFound as AccountNotFound
    from .errors import AiotheoryError as AiotheoryError
    from .errors import AwsError as AwsError
    from .errors import AwsValidationError as AwsValidationError
    from .errors import CancellationReason as CancellationReason
    from .errors import ConditionFailed as ConditionFailed
    from .errors import CredentialsError as CredentialsError
    from .errors import DeadlineExceeded as DeadlineExceeded
    from .errors import DecodeError as DecodeError
    from .errors import DecryptionFailed as DecryptionFailed
    from .errors import DmsMismatch as DmsMismatch
    from .errors import EncryptionNotConfigured as EncryptionNotConfigured
    from .errors import ExpiredToken as ExpiredToken
    from .errors import IdempotencyError as IdempotencyError
    from .errors import IdempotencyInProgress as IdempotencyInProgress
    from .errors import IdempotencyKeyMismatch as IdempotencyKeyMismatch
    from .errors import IdempotencyReplyNotStored as IdempotencyReplyNotStored
    from .errors import ItemNotFound as ItemNotFound
    from .errors import KeyChanged as KeyChanged
    from .errors import KeyTemplateMismatch as KeyTemplateMismatch
    from .errors import LeaseHeld as LeaseHeld
    from .errors import LeaseNotOwned as LeaseNotOwned
    from .errors import MissingExtra as MissingExtra
    from .errors import OutcomeUnknown as OutcomeUnknown
    from .errors import ReplyMismatch as ReplyMismatch
    from .errors import ResourceInUse as ResourceInUse
    from .errors import ResourceNotFound as ResourceNotFound
    from .errors import ServiceError as ServiceError
    from .errors import TableSchemaMismatch as TableSchemaMismatch
    from .errors import Throttled as Throttled
    from .errors import TransactionCanceled as TransactionCanceled
    from .errors import TransportError as TransportError
    from .errors import UnknownEntity as UnknownEntity
    from .errors import UnprocessedItems as UnprocessedItems
    from .errors import ValidationError as ValidationError
    from .expr import Attr as Attr
    from .expr import Condition as Condition
    from .expr import F as F
    from .expr import Raw as Raw
    from .expr import Update as Update
    from .expr import size as size
    from .idempotency import IdempotencyStore as IdempotencyStore
    from .lease import Lease as Lease
    from .lease import LeaseRecord as LeaseRecord
    from .lease import lease_table as lease_table
    from .model import GSI as GSI
    from .model import LSI as LSI
    from .model import PK as PK
    from .model import SK as SK
    from .model import TTL as TTL
    from .model import Converter as Converter
    from .model import CreatedAt as CreatedAt
    from .model import Encrypted as Encrypted
    from .model import EpochSeconds as EpochSeconds
    from .model import Ignore as Ignore
    from .model import JSONString as JSONString
    from .model import Model as Model
    from .model import OmitEmpty as OmitEmpty
    from .model import RFC3339Nano as RFC3339Nano
    from .model import Stored as Stored
    from .model import UpdatedAt as UpdatedAt
    from .model import Version as Version
    from .query import Page as Page
    from .query import ParallelScan as ParallelScan
    from .query import Query as Query
    from .query import Scan as Scan
    from .query import ScanStream as ScanStream
    from .retries import RetryPolicy as RetryPolicy
    from .transact import Transaction as Transaction
    from .transact import TransactionAction as TransactionAction

__all__ = [
    "AccessDenied",
    "AccountConfig",
    "AccountNotFound",
    "Accounts",
    "AiotheoryError",
    "AssumeRoleProvider",
    "Attr",
    "AwsError",
    "AwsValidationError",
    "CancellationReason",
    "Collection",
    "Condition",
    "ConditionFailed",
    "Converter",
    "CreatedAt",
    "Credentials",
    "CredentialsError",
    "DB",
    "DataKeyPolicy",
    "DeadlineExceeded",
    "DecodeError",
    "DecryptionFailed",
    "DmsMismatch",
    "Encrypted",
    "EncryptionNotConfigured",
    "EpochSeconds",
    "ExpiredToken",
    "F",
    "GSI",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyKeyMismatch",
    "IdempotencyReplyNotStored",
    "IdempotencyStore",
    "Ignore",
    "ItemNotFound",
    "JSONString",
    "KeyChanged",
    "KeyTemplateMismatch",
    "LSI",
    "Lease",
    "LeaseHeld",
    "LeaseNotOwned",
    "LeaseRecord",
    "MigrationPlan",
    "MigrationStep",
    "MissingExtra",
    "Model",
    "OmitEmpty",
    "OutcomeUnknown",
    "PK",
    "Page",
    "ParallelScan",
    "PartnerLogFilter",
    "Query",
    "RFC3339Nano",
    "Raw",
    "ReplyMismatch",
    "ResourceInUse",
    "ResourceNotFound",
    "RetryPolicy",
    "SK",
    "Scan",
    "ScanStream",
    "ServiceError",
    "Stored",
    "TTL",
    "TableSchemaMismatch",
    "Template",
    "Throttled",
    "Transaction",
    "TransactionAction",
    "TransactionCanceled",
    "TransportError",
    "UnknownEntity",
    "UnprocessedItems",
    "Update",
    "UpdatedAt",
    "ValidationError",
    "Version",
    "__version__",
    "current_partner",
    "deadline",
    "lambda_handler",
    "lease_table",
    "partner_scope",
    "size",
    "template_of",
]

_ERRORS: Final = (
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
)
_MODEL: Final = (
    "GSI",
    "LSI",
    "PK",
    "SK",
    "TTL",
    "Converter",
    "CreatedAt",
    "Encrypted",
    "EpochSeconds",
    "Ignore",
    "JSONString",
    "Model",
    "OmitEmpty",
    "RFC3339Nano",
    "Stored",
    "UpdatedAt",
    "Version",
)

#: public name -> module that defines it (imported on first touch).
_LAZY: Final[dict[str, str]] = {
    "DB": "aiotheory.db",
    "DataKeyPolicy": "aiotheory.encryption",
    "deadline": "aiotheory.deadlines",
    "RetryPolicy": "aiotheory.retries",
    "Attr": "aiotheory.expr",
    "Condition": "aiotheory.expr",
    "F": "aiotheory.expr",
    "Update": "aiotheory.expr",
    "Raw": "aiotheory.expr",
    "size": "aiotheory.expr",
    "Credentials": "aiotheory.credentials",
    "AssumeRoleProvider": "aiotheory.credentials",
    "Transaction": "aiotheory.transact",
    "lambda_handler": "aiotheory.aws_lambda",
    "Accounts": "aiotheory.accounts",
    "AccountConfig": "aiotheory.accounts",
    "PartnerLogFilter": "aiotheory.accounts",
    "current_partner": "aiotheory.accounts",
    "partner_scope": "aiotheory.accounts",
    "Page": "aiotheory.query",
    "Query": "aiotheory.query",
    "Scan": "aiotheory.query",
    "ParallelScan": "aiotheory.query",
    "ScanStream": "aiotheory.query",
    "TransactionAction": "aiotheory.transact",
    "IdempotencyStore": "aiotheory.idempotency",
    "Lease": "aiotheory.lease",
    "LeaseRecord": "aiotheory.lease",
    "lease_table": "aiotheory.lease",
    "MigrationPlan": "aiotheory._tables",
    "MigrationStep": "aiotheory._tables",
    "Collection": "aiotheory.entities",
    "Template": "aiotheory.entities",
    "template_of": "aiotheory.entities",
    **dict.fromkeys(_ERRORS, "aiotheory.errors"),
    **dict.fromkeys(_MODEL, "aiotheory.model"),
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'aiotheory' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    # Copy every public name of that module we export, so later touches skip __getattr__.
    for public, owner in _LAZY.items():
        if owner == module_name:
            globals()[public] = getattr(module, public)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
