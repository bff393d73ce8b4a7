"""Multi-account access: partner id -> AccountConfig -> a cached DB signing with that account's role.

Each partner's DB inherits the base DB's endpoint, table prefix, retry policy and clock, and signs
with credentials from a refreshing AssumeRole cache whose base credentials are the base DB's own.
Transports come from `transport._factory`, all partners sharing one HTTP client (which alone binds to
the running loop). Imports no HTTP at module load; the lean wire is imported on a partner's first use.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Final

from .credentials._assume_role import (
    DEFAULT_ADVISORY_MARGIN,
    DEFAULT_MANDATORY_MARGIN,
    DEFAULT_STS_TIMEOUT,
    AssumeRoleProvider,
    validate_margins,
    validate_sts_timeout,
)
from .errors import AccountNotFound, ValidationError

if TYPE_CHECKING:
    from ._types import Clock
    from .credentials import CredentialProvider
    from .db import DB
    from .transport._pool import HttpClient
    from .transport.base import Transport

__all__ = ["AccountConfig", "Accounts", "TransportWrapper"]

#: Wraps a partner's transport (fault injection in tests, instrumentation); called once per partner DB.
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


class _StsFactory:
    """Makes the lean STS client for one role on the partners' shared HTTP client; called once per loop."""

    __slots__ = ("_accounts", "_base", "_region")

    def __init__(self, accounts: Accounts, region: str, base: CredentialProvider) -> None:
        self._accounts = accounts
        self._region = region
        self._base = base

    def __call__(self) -> Transport:
        from .transport._factory import make_sts

        accounts = self._accounts
        sts = make_sts(
            self._region, self._base, endpoint_url=accounts._sts_endpoint_url, http=accounts._shared_http()
        )
        wrap = accounts._wrap_sts
        return sts if wrap is None else wrap(sts)


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
        # One keep-alive client for every partner and its STS calls, made on first use: SigV4 signs
        # each request, so a connection one partner opened serves the next.
        self._http: HttpClient | None = None
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
        from .transport._factory import make_transport

        transport = make_transport(
            "lean",
            region=region,
            endpoint_url=base.endpoint_url,
            credentials=provider,
            session=None,
            pool_size=base.sizing.pool_size,
            http=self._shared_http(),
            partner=partner_id,
        )
        if self._wrap_transport is not None:
            transport = self._wrap_transport(transport)
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
                sts_factory=_StsFactory(self, region, base_credentials),
            )
            self._providers[key] = provider
        return provider

    def _shared_http(self) -> HttpClient:
        http = self._http
        if http is None:
            from .transport._factory import make_http

            http = self._http = make_http(self._base.sizing.pool_size)
        return http

    def _base_provider(self) -> CredentialProvider:
        # The base DB's own provider (the very object its lean transport signs with).
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
        http, self._http = self._http, None
        if http is not None:
            await http.close()
