"""Multi-account access: partner id -> AccountConfig -> a cached DB signing with that account's role.

Each partner's DB inherits the base DB's endpoint, table prefix, retry policy and clock, and signs
with credentials from a refreshing AssumeRole cache whose base credentials are the base DB's own.
Imports no HTTP at module load; the lean wire is imported on a partner's first use.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Final

from ._assume_role import (
    DEFAULT_ADVISORY_MARGIN,
    DEFAULT_MANDATORY_MARGIN,
    DEFAULT_STS_TIMEOUT,
    AssumeRoleProvider,
    validate_margins,
    validate_sts_timeout,
)
from .errors import AccountNotFound, ExpiredToken, ValidationError

if TYPE_CHECKING:
    from ._types import Clock, Payload
    from .credentials import CredentialProvider
    from .db import DB
    from .transport._pool import HttpClient
    from .transport.base import Transport

__all__ = ["AccountConfig", "Accounts", "TransportWrapper"]

#: Wraps a partner's transport (fault injection in tests, instrumentation); called once per loop.
TransportWrapper = Callable[["Transport"], "Transport"]

_ROLE_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")
_SESSION_NAME: Final = re.compile(r"[\w+=,.@-]{2,64}")
_ENV_ROLE: Final = re.compile(r"(PARTNER\d+)_ROLE_ARN")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """How to reach one partner's account: the role to assume and where its tables live.

    `external_id` is sent only when set and kept out of `repr`. `region` defaults to the base DB's.

    Raises:
        ValidationError: a malformed role ARN or session name, or a duration outside 900-43200 s.
    """

    role_arn: str
    external_id: str | None = field(default=None, repr=False)
    _: KW_ONLY
    region: str | None = None
    session_name: str = "aiotheory"
    duration: int = 3600

    def __post_init__(self) -> None:
        if not _ROLE_ARN.fullmatch(self.role_arn):
            raise ValidationError(f"not an IAM role ARN: {self.role_arn!r}")
        if not _SESSION_NAME.fullmatch(self.session_name):
            raise ValidationError("session_name must be 2-64 characters of letters, digits and +=,.@_-")
        if not 900 <= self.duration <= 43200:
            raise ValidationError(f"AssumeRole duration must be 900-43200 s, got {self.duration}")
        if self.external_id is not None and not 2 <= len(self.external_id) <= 1224:
            raise ValidationError("external_id must be 2-1224 characters")


class _SharedHttp:
    """One keep-alive HTTP client for all partners (and their STS calls), per event loop.

    SigV4 signs each request, so one pooled connection serves every account: a partner's first call
    reuses a connection another partner opened.
    """

    __slots__ = ("_client", "_loop", "_max_connections")

    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        self._client: HttpClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> HttpClient:
        loop = asyncio.get_running_loop()
        client = self._client
        if client is None or self._loop is not loop:
            old = self._loop
            if client is not None and old is not None and not old.is_closed():
                raise ValidationError(
                    "these Accounts are bound to another event loop that is still open; "
                    "use one loop per process (aiotheory.aws_lambda.lambda_handler keeps one)"
                )
            from .transport._pool import HttpClient

            # A client of a closed loop is dropped untouched: closing it would call into the dead loop.
            client = self._client = HttpClient(max_connections=self._max_connections)
            self._loop = loop
        return client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.close()


class _PartnerTransport:
    """A partner's DynamoDB transport: the lean wire signing with the partner's credentials.

    Rebuilt in a new loop after the old one closed; `partner` labels the calls in logs and traces.
    """

    __slots__ = ("_credentials", "_endpoint_url", "_http", "_inner", "_loop", "_region", "_wrap", "partner")

    def __init__(
        self,
        partner: str,
        region: str | None,
        endpoint_url: str | None,
        credentials: CredentialProvider,
        http: _SharedHttp,
        wrap: TransportWrapper | None,
    ) -> None:
        self.partner = partner
        self._region = region
        self._endpoint_url = endpoint_url
        self._credentials = credentials
        self._http = http
        self._wrap = wrap
        self._inner: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"_PartnerTransport(partner={self.partner!r}, region={self._region!r})"

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        inner = self._inner
        if inner is None or self._loop is not asyncio.get_running_loop():
            inner = self._bind()
        try:
            return await inner.send(operation, payload)
        except ExpiredToken:
            # The assumed credentials expired early (revoked session, clock skew): drop them; the one
            # call function resends once at once, and the resend refreshes them.
            self._credentials.invalidate()
            raise

    def _bind(self) -> Transport:
        from .transport.lean import LeanTransport

        http = self._http.get()  # raises if the old loop is still open
        inner: Transport = LeanTransport(
            self._region,
            endpoint_url=self._endpoint_url,
            credentials=self._credentials,
            http=http,
            user_agent_extra=f"partner/{self.partner}",
        )
        if self._wrap is not None:
            inner = self._wrap(inner)
        self._inner = inner
        self._loop = asyncio.get_running_loop()
        return inner

    async def close(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None and self._loop is asyncio.get_running_loop():
            await inner.close()


class _StsFactory:
    """Makes the lean STS client for one role, on the partners' shared HTTP client (per loop)."""

    __slots__ = ("_base", "_endpoint_url", "_http", "_region", "_wrap")

    def __init__(
        self,
        region: str,
        base: CredentialProvider,
        endpoint_url: str | None,
        http: _SharedHttp,
        wrap: TransportWrapper | None,
    ) -> None:
        self._region = region
        self._base = base
        self._endpoint_url = endpoint_url
        self._http = http
        self._wrap = wrap

    def __call__(self) -> Transport:
        from .transport._sts import StsTransport

        sts: Transport = StsTransport(
            self._region, self._base, endpoint_url=self._endpoint_url, http=self._http.get()
        )
        return sts if self._wrap is None else self._wrap(sts)


class Accounts:
    """The partners this process may act for, each reached through its own role.

    `await accounts.db(partner_id)` returns that partner's DB, made on first use and cached; it never
    serves another partner's data because every request it sends is signed with the partner's role.
    Partners sharing (role, external id, region) share one credential cache and one refresh.

    Args:
        configs: partner id -> AccountConfig.
        base: the DB whose endpoint, table prefix, retry policy, clock and credentials (used to call
            STS) the partners inherit. Partners always use the lean wire, which signs per request
            with the assumed credentials.
        sts_endpoint_url: where AssumeRole goes (tests: the moto server); else the STS endpoint
            settings (`AWS_ENDPOINT_URL_STS`, ...) and the region's endpoint.
        advisory_margin, mandatory_margin, clock: the credential cache's (see AssumeRoleProvider).
        sts_timeout: seconds one shared AssumeRole refresh may take, whatever the deadline of the
            caller that started it (see AssumeRoleProvider).
        base_credentials: who calls STS; defaults to the base DB's own provider.
        wrap_transport, wrap_sts: wrap each partner's DynamoDB / STS transport (fault injection).

    Raises:
        ValidationError: margins not below every configured role duration, or a bad sts_timeout.
    """

    __slots__ = (
        "_advisory",
        "_base",
        "_base_credentials",
        "_clock",
        "_configs",
        "_dbs",
        "_http",
        "_mandatory",
        "_providers",
        "_sts_endpoint_url",
        "_sts_timeout",
        "_wrap_sts",
        "_wrap_transport",
    )

    def __init__(
        self,
        configs: Mapping[str, AccountConfig],
        *,
        base: DB,
        sts_endpoint_url: str | None = None,
        advisory_margin: float = DEFAULT_ADVISORY_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        clock: Clock = time.time,
        base_credentials: CredentialProvider | None = None,
        wrap_transport: TransportWrapper | None = None,
        wrap_sts: TransportWrapper | None = None,
        sts_timeout: float = DEFAULT_STS_TIMEOUT,
    ) -> None:
        for partner, config in configs.items():
            if not isinstance(config, AccountConfig):
                raise ValidationError(f"partner {partner!r}: expected an AccountConfig")
            validate_margins(advisory_margin, mandatory_margin, config.duration)
        validate_sts_timeout(sts_timeout)
        self._configs: dict[str, AccountConfig] = dict(configs)
        self._base = base
        self._sts_endpoint_url = sts_endpoint_url
        self._advisory = advisory_margin
        self._mandatory = mandatory_margin
        self._clock = clock
        self._sts_timeout = sts_timeout
        self._base_credentials = base_credentials
        self._wrap_transport = wrap_transport
        self._wrap_sts = wrap_sts
        self._http = _SharedHttp(base.sizing.pool_size)
        self._dbs: dict[str, DB] = {}
        self._providers: dict[tuple[str, str | None, str], AssumeRoleProvider] = {}

    @classmethod
    def from_env(
        cls,
        *,
        base: DB,
        environ: Mapping[str, str] | None = None,
        sts_endpoint_url: str | None = None,
        advisory_margin: float = DEFAULT_ADVISORY_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        clock: Clock = time.time,
        sts_timeout: float = DEFAULT_STS_TIMEOUT,
    ) -> Accounts:
        """Partners from `PARTNER<N>_ROLE_ARN`, `_EXTERNAL_ID` and `_REGION` -> partner id "partner<N>".

        Raises:
            ValidationError: a role ARN is malformed.
        """
        env = os.environ if environ is None else environ
        configs: dict[str, AccountConfig] = {}
        for name, value in env.items():
            found = _ENV_ROLE.fullmatch(name)
            if found is None or not value:
                continue
            prefix = found.group(1)
            configs[prefix.lower()] = AccountConfig(
                value,
                env.get(f"{prefix}_EXTERNAL_ID") or None,
                region=env.get(f"{prefix}_REGION") or None,
            )
        return cls(
            dict(sorted(configs.items())),
            base=base,
            sts_endpoint_url=sts_endpoint_url,
            advisory_margin=advisory_margin,
            mandatory_margin=mandatory_margin,
            clock=clock,
            sts_timeout=sts_timeout,
        )

    def __repr__(self) -> str:
        return f"Accounts({sorted(self._configs)!r})"

    def __contains__(self, partner_id: object) -> bool:
        return partner_id in self._configs

    def __iter__(self) -> Iterator[str]:
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    def config(self, partner_id: str) -> AccountConfig:
        """Raises AccountNotFound for an unknown id."""
        config = self._configs.get(partner_id)
        if config is None:
            raise AccountNotFound(partner_id)
        return config

    async def db(self, partner_id: str) -> DB:
        """The DB acting as `partner_id`: made on first use (no I/O) and cached.

        Raises:
            AccountNotFound: `partner_id` is not configured.
        """
        found = self._dbs.get(partner_id)
        if found is not None:
            return found
        config = self.config(partner_id)
        base = self._base
        region = config.region or base.region
        provider = self.credentials(partner_id)
        transport = _PartnerTransport(
            partner_id, region, base.endpoint_url, provider, self._http, self._wrap_transport
        )
        made = base.derive(credentials=provider, region=region, transport=transport)
        self._dbs[partner_id] = made
        return made

    def credentials(self, partner_id: str) -> AssumeRoleProvider:
        """The partner's refreshing credential cache (shared by partners with the same role).

        Raises:
            AccountNotFound: `partner_id` is not configured.
        """
        config = self.config(partner_id)
        region = config.region or self._base.region or "us-east-1"
        key = (config.role_arn, config.external_id, region)
        provider = self._providers.get(key)
        if provider is None:
            base_credentials = self._base_credentials or self._base_provider()
            provider = AssumeRoleProvider(
                config.role_arn,
                base=base_credentials,
                external_id=config.external_id,
                region=region,
                session_name=config.session_name,
                duration=config.duration,
                advisory_margin=self._advisory,
                mandatory_margin=self._mandatory,
                clock=self._clock,
                sts_timeout=self._sts_timeout,
                sts_factory=_StsFactory(
                    region, base_credentials, self._sts_endpoint_url, self._http, self._wrap_sts
                ),
            )
            self._providers[key] = provider
        return provider

    def _base_provider(self) -> CredentialProvider:

        # The base DB's own credential source (proposed public accessor: DB.credential_provider).
        provider = self._base.credential_provider
        self._base_credentials = provider
        return provider

    def reset(self) -> None:
        """Forget cached credentials (and loop-bound state); DBs stay cached. For moto resets."""
        for provider in self._providers.values():
            provider.reset()

    async def close(self) -> None:
        """Close every partner DB, credential cache and the shared HTTP client."""
        dbs, self._dbs = self._dbs, {}
        for made in dbs.values():
            await made.close()
        providers, self._providers = self._providers, {}
        for provider in providers.values():
            await provider.close()
        await self._http.close()
