"""Multi-account access: partner id -> AccountConfig -> a cached DB signing with that account's role.

Each partner's DB inherits the base DB's endpoint, table prefix, retry policy and clock, and signs
with credentials from a refreshing AssumeRole cache whose base credentials are the base DB's own.
Partners can be added and removed at run time; the partner being served lives in a context variable
(`partner_scope`, `Accounts.use`) that log records and spans read. Imports no HTTP at module load.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Final, TypeAlias

from ._observe import PartnerLogFilter, current_partner, partner_scope
from .credentials._assume_role import (
    DEFAULT_ADVISORY_MARGIN,
    DEFAULT_MANDATORY_MARGIN,
    DEFAULT_STS_TIMEOUT,
    AssumeRoleProvider,
    sts_retry_policy,
    validate_margins,
    validate_sts_timeout,
)
from .errors import AccountNotFound, ValidationError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from ._types import Clock
    from .credentials import CredentialProvider
    from .db import DB
    from .retries import RetryPolicy
    from .transport._pool import HttpClient
    from .transport.base import Transport

__all__ = [
    "DEFAULT_SESSION_NAME",
    "AccountConfig",
    "Accounts",
    "PartnerLogFilter",
    "SessionNamer",
    "TransportWrapper",
    "current_partner",
    "partner_scope",
]

#: Wraps a partner's transport (fault injection in tests, instrumentation); called once per partner DB.
TransportWrapper = Callable[["Transport"], "Transport"]
#: Makes a partner's STS RoleSessionName from its partner id.
SessionNamer: TypeAlias = Callable[[str], str]
#: The default RoleSessionName template: `{partner}` is replaced by the partner id.
DEFAULT_SESSION_NAME: Final = "aiotheory-{partner}"

_ROLE_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", re.ASCII)
# STS RoleSessionName: 2-64 characters of [\w+=,.@-], ASCII only (re.ASCII: Python's \w is Unicode).
_SESSION_NAME: Final = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
# A partner id rides in the lean wire's User-Agent and in log lines: printable ASCII, no spaces.
_PARTNER_ID: Final = re.compile(r"[!-~]{1,128}", re.ASCII)
_SESSION_RULE: Final = "2-64 characters of ASCII letters, digits and +=,.@_-"
_ENV_ROLE: Final = re.compile(r"(PARTNER\d+)_ROLE_ARN")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """How to reach one partner's account: the role to assume and where its tables live.

    `external_id` is sent only when set and kept out of `repr`. `region` defaults to the base DB's.
    `session_name` is the STS RoleSessionName; None takes the `Accounts` template (`aiotheory-<partner>`).

    Raises:
        ValidationError: a malformed role ARN or session name, or a duration outside 900-43200 s.
    """

    role_arn: str
    external_id: str | None = field(default=None, repr=False)
    _: KW_ONLY
    region: str | None = None
    session_name: str | None = None
    duration: int = 3600

    def __post_init__(self) -> None:
        if not isinstance(self.role_arn, str) or not _ROLE_ARN.fullmatch(self.role_arn):
            raise ValidationError(f"not an IAM role ARN: {self.role_arn!r}")
        if self.session_name is not None and not _valid_session_name(self.session_name):
            raise ValidationError(f"session_name must be {_SESSION_RULE}, got {self.session_name!r}")
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
    `db("")` and `db(None)` return the base DB (TableTheory's `Partner("")`). Partners sharing (role,
    external id, region, session name) share one credential cache and one refresh.

    Args:
        configs: partner id -> AccountConfig. Partner ids are 1-128 printable ASCII characters.
        base: the DB whose endpoint, table prefix, retry policy, clock and credentials (used to call
            STS) the partners inherit. Partners always use the lean wire, which signs per request
            with the assumed credentials.
        session_name: each partner's STS RoleSessionName where its AccountConfig sets none: a template
            in which `{partner}` becomes the partner id, or a function of the partner id. The name
            shows in the partner account's CloudTrail (`assumed-role/<role>/<session name>`), so the
            default `aiotheory-{partner}` says which partner each call served. A name that breaks
            STS's rule (2-64 characters of `[A-Za-z0-9_+=,.@-]`) is refused, never rewritten.
        sts_endpoint_url: where AssumeRole goes (tests: the moto server); else the STS endpoint
            settings (`AWS_ENDPOINT_URL_STS`, ...) and the region's endpoint.
        advisory_margin, mandatory_margin, clock: the credential cache's (see AssumeRoleProvider).
        sts_timeout: seconds one shared AssumeRole refresh may take, whatever the deadline of the
            caller that started it (see AssumeRoleProvider).
        base_credentials: who calls STS; defaults to the base DB's own provider.
        wrap_transport, wrap_sts: wrap each partner's DynamoDB / STS transport (fault injection).
        sts_retry: the AssumeRole retry policy shared by every partner; default `sts_retry_policy()`
            (adaptive: one client-side rate limiter for this process's AssumeRole calls, so a
            throttled fleet cold start backs off together instead of per role).

    Raises:
        ValidationError: a bad partner id or session name, margins not below every configured role
            duration, or a bad sts_timeout.
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
        "_session_name",
        "_session_names",
        "_sts_endpoint_url",
        "_sts_retry",
        "_sts_timeout",
        "_wrap_sts",
        "_wrap_transport",
    )

    def __init__(
        self,
        configs: Mapping[str, AccountConfig],
        *,
        base: DB,
        session_name: str | SessionNamer = DEFAULT_SESSION_NAME,
        sts_endpoint_url: str | None = None,
        advisory_margin: float = DEFAULT_ADVISORY_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        clock: Clock = time.time,
        base_credentials: CredentialProvider | None = None,
        wrap_transport: TransportWrapper | None = None,
        wrap_sts: TransportWrapper | None = None,
        sts_timeout: float = DEFAULT_STS_TIMEOUT,
        sts_retry: RetryPolicy | None = None,
    ) -> None:
        # Each partner's role duration bounds the margins too (checked as partners are added).
        validate_margins(advisory_margin, mandatory_margin, math.inf)
        validate_sts_timeout(sts_timeout)
        if not isinstance(session_name, str) and not callable(session_name):
            raise ValidationError("session_name is a template string or a function of the partner id")
        self._session_name = session_name
        self._advisory = advisory_margin
        self._mandatory = mandatory_margin
        self._configs: dict[str, AccountConfig] = {}
        self._session_names: dict[str, str] = {}
        for partner, config in configs.items():
            self._session_names[partner] = self._check(partner, config)
            self._configs[partner] = config
        self._base = base
        self._sts_endpoint_url = sts_endpoint_url
        self._clock = clock
        self._sts_timeout = sts_timeout
        self._sts_retry = sts_retry if sts_retry is not None else sts_retry_policy()
        self._base_credentials = base_credentials
        self._wrap_transport = wrap_transport
        self._wrap_sts = wrap_sts
        # One keep-alive client for every partner and its STS calls, made on first use: SigV4 signs
        # each request, so a connection one partner opened serves the next.
        self._http: HttpClient | None = None
        self._dbs: dict[str, DB] = {}
        self._providers: dict[_ProviderKey, AssumeRoleProvider] = {}

    @classmethod
    def from_env(
        cls,
        *,
        base: DB,
        environ: Mapping[str, str] | None = None,
        session_name: str | SessionNamer = DEFAULT_SESSION_NAME,
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
            session_name=session_name,
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

    def session_name(self, partner_id: str) -> str:
        """The RoleSessionName the partner's AssumeRole sends (checked when the partner was added).

        Raises:
            AccountNotFound: `partner_id` is not configured.
        """
        name = self._session_names.get(partner_id)
        if name is None:
            raise AccountNotFound(partner_id)
        return name

    def add(self, partner_id: str, config: AccountConfig) -> None:
        """Configure a partner at run time; no I/O. Adding the same config again changes nothing.

        A partner whose config should change is removed first (`await accounts.remove(...)`), so a
        DB signing with the old role never outlives the change.

        Raises:
            ValidationError: a bad partner id, config or session name, margins not below the role
                duration, or `partner_id` already configured with another config.
        """
        name = self._check(partner_id, config)
        existing = self._configs.get(partner_id)
        if existing is not None:
            if existing == config:
                return
            raise ValidationError(
                f"partner {partner_id!r} is already configured with another account; remove it first"
            )
        self._configs[partner_id] = config
        self._session_names[partner_id] = name

    async def remove(self, partner_id: str) -> None:
        """Forget a partner: close its DB and, unless another partner shares it, its credential cache.

        The partner is unknown from the moment this is called (`db()` raises AccountNotFound), before
        anything is closed. The removed DB refuses new calls; a refresh in flight is cancelled and its
        waiters get CredentialsError. Adding the partner again builds a fresh DB and cache.

        Raises:
            AccountNotFound: `partner_id` is not configured.
        """
        config = self._configs.pop(partner_id, None)
        if config is None:
            raise AccountNotFound(partner_id)
        key = self._key(config, self._session_names.pop(partner_id))
        made = self._dbs.pop(partner_id, None)
        provider: AssumeRoleProvider | None = None
        if key not in self._keys():
            provider = self._providers.pop(key, None)
        # Everything above ran without yielding to the loop, so no db() or credentials() call can
        # see the partner half-removed, and none can re-cache what is being closed below.
        if made is not None:
            await made.close()
        if provider is not None:
            await provider.close()

    async def db(self, partner_id: str | None) -> DB:
        """The DB acting as `partner_id`: made on first use (no I/O) and cached; "" or None: the base DB.

        Raises:
            AccountNotFound: `partner_id` is not configured.
        """
        if not partner_id:
            return self._base
        found = self._dbs.get(partner_id)
        if found is not None:
            return found
        # No await from here to the cache store: a concurrent remove() cannot slip in between and
        # leave a DB cached for a partner it has already forgotten.
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

    def use(self, partner_id: str | None) -> AbstractAsyncContextManager[DB]:
        """`async with accounts.use(p) as db:` the partner's DB, with `p` as the current partner.

        Inside, `current_partner()` is `p` and aiotheory's log records and spans carry it; on exit the
        outer partner is restored. "" or None: the base DB and no partner.

        Raises:
            AccountNotFound: `partner_id` is not configured (on entry).
        """
        return _Use(self, partner_id or None)

    def credentials(self, partner_id: str) -> AssumeRoleProvider:
        """The partner's refreshing credential cache (shared by partners with the same role and session).

        Raises:
            AccountNotFound: `partner_id` is not configured.
        """
        config = self.config(partner_id)
        key = self._key(config, self._session_names[partner_id])
        provider = self._providers.get(key)
        if provider is None:
            role_arn, external_id, region, session_name = key
            base_credentials = self._base_credentials or self._base_provider()
            provider = AssumeRoleProvider(
                role_arn,
                base=base_credentials,
                external_id=external_id,
                region=region,
                session_name=session_name,
                duration=config.duration,
                advisory_margin=self._advisory,
                mandatory_margin=self._mandatory,
                clock=self._clock,
                sts_timeout=self._sts_timeout,
                retry=self._sts_retry,
                sts_factory=_StsFactory(self, region, base_credentials),
            )
            self._providers[key] = provider
        return provider

    def _key(self, config: AccountConfig, session_name: str) -> _ProviderKey:
        region = config.region or self._base.region or "us-east-1"
        return (config.role_arn, config.external_id, region, session_name)

    def _keys(self) -> set[_ProviderKey]:
        return {self._key(config, self._session_names[p]) for p, config in self._configs.items()}

    def _check(self, partner_id: object, config: object) -> str:
        # Everything STS would refuse is refused here, before any network call.
        if not isinstance(partner_id, str) or not _PARTNER_ID.fullmatch(partner_id):
            raise ValidationError(
                f"partner id must be 1-128 printable ASCII characters without spaces, got {partner_id!r}"
            )
        if not isinstance(config, AccountConfig):
            raise ValidationError(f"partner {partner_id!r}: expected an AccountConfig")
        validate_margins(self._advisory, self._mandatory, config.duration)
        name = config.session_name
        if name is None:
            template = self._session_name
            made = (
                template.replace("{partner}", partner_id)
                if isinstance(template, str)
                else template(partner_id)
            )
            if not isinstance(made, str) or not _valid_session_name(made):
                raise ValidationError(
                    f"partner {partner_id!r}: the STS session name {made!r} is not {_SESSION_RULE}; "
                    "set AccountConfig(session_name=...) or Accounts(session_name=...)"
                )
            name = made
        return name

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


_ProviderKey: TypeAlias = tuple[str, str | None, str, str]


class _Use:
    """`Accounts.use(p)`: the partner's DB, with `p` set as the current partner until exit."""

    __slots__ = ("_accounts", "_partner", "_scope")

    def __init__(self, accounts: Accounts, partner_id: str | None) -> None:
        self._accounts = accounts
        self._partner = partner_id
        self._scope = partner_scope(partner_id)

    async def __aenter__(self) -> DB:
        made = await self._accounts.db(self._partner)  # AccountNotFound before the scope opens
        self._scope.__enter__()
        return made

    async def __aexit__(self, et: object, e: object, tb: object) -> None:
        self._scope.__exit__(et, e, tb)


def _valid_session_name(name: str) -> bool:
    return _SESSION_NAME.fullmatch(name) is not None
