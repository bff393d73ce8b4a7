"""The one place transports are built, for DB and Accounts: DynamoDB (lean or botocore) and lean STS.

The assembly point above the wire and the credentials: it turns DB-style credentials into what each
transport takes, so the wire modules never import `credentials`. Each transport module is imported
when its kind is first built (botocore only when chosen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

from aiotheory.credentials import CredentialProvider, Credentials, resolve
from aiotheory.errors import ValidationError

if TYPE_CHECKING:
    from aiotheory.credentials import CredentialsLike
    from aiotheory.transport._pool import HttpClient
    from aiotheory.transport.base import Transport

__all__ = ["TransportName", "make_http", "make_sts", "make_transport"]

#: The transports a DB can build by name.
TransportName: TypeAlias = Literal["lean", "botocore"]


def make_http(pool_size: int) -> HttpClient:
    """A keep-alive HTTP client to share between transports (one per endpoint set, e.g. all partners)."""
    from aiotheory.transport._pool import HttpClient

    return HttpClient(max_connections=pool_size)


def make_transport(
    kind: TransportName,
    *,
    region: str | None,
    endpoint_url: str | None,
    credentials: CredentialsLike,
    session: object | None,
    pool_size: int,
    http: HttpClient | None = None,
    partner: str | None = None,
) -> Transport:
    """A DynamoDB transport of `kind`; no I/O, and nothing bound to a loop until its first send.

    The lean transport takes `credentials` as a provider (a `CredentialProvider` is used as is, so a
    DB's resolved provider is shared, never resolved twice) and shares `http` when given. The
    botocore transport takes static keys or the session's chain.

    `http` and `partner` are the lean wire's (partners always use it).

    Raises:
        ValidationError: botocore with a credential provider (botocore reads static keys only).
        CredentialsError: `credentials` has an unsupported shape.
    """
    if kind == "botocore":
        from aiotheory.transport.botocore import BotocoreTransport

        return BotocoreTransport(
            region,
            endpoint_url=endpoint_url,
            credentials=_static(credentials),
            session=session,
            max_pool_connections=pool_size,
        )
    from aiotheory.transport.lean import LeanTransport

    return LeanTransport(
        region,
        endpoint_url=endpoint_url,
        credentials=resolve(credentials, session),
        http=http,
        max_connections=pool_size,
        user_agent_extra=None if partner is None else f"partner/{partner}",
        partner=partner,
    )


def make_sts(
    region: str, credentials: CredentialProvider, *, endpoint_url: str | None, http: HttpClient | None
) -> Transport:
    """The lean STS client (AssumeRole) signing with `credentials`, on `http` when shared."""
    from aiotheory.credentials._sts import StsTransport

    return StsTransport(region, credentials, endpoint_url=endpoint_url, http=http)


def _static(credentials: CredentialsLike) -> tuple[str, str] | tuple[str, str, str | None] | None:
    # botocore reads static keys itself; a provider has no place in its chain.
    if isinstance(credentials, tuple) and len(credentials) in (2, 3):
        return credentials
    if isinstance(credentials, Credentials):
        return (credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    if credentials is not None:
        raise ValidationError("the botocore transport takes credentials as a tuple or Credentials")
    return None
