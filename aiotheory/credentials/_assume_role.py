"""The refreshing AssumeRole credential cache: a `CredentialProvider` with one refresh in flight.

Credentials are refreshed ahead of expiry: in the advisory window one background refresh runs while
callers keep the still-valid credentials; in the mandatory window callers wait for it. Time and
jitter are injected. Imports the standard library, aiotheory's light modules and (on first use) the
lean STS client; STS goes through the one call function (`_call.call`). The shared refresh owns its
time (its own `sts_timeout`, never a caller's deadline); each caller waits for it under its own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random as _random
import time
import weakref
from typing import TYPE_CHECKING, Final

from aiotheory._call import call
from aiotheory._observe import logger as _logger
from aiotheory.deadlines import bounded, deadline, detached_context
from aiotheory.errors import AiotheoryError, CredentialsError, DeadlineExceeded, ValidationError
from aiotheory.retries import RateLimiter, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiotheory._types import Clock, Payload, RandomFn, SleepFn
    from aiotheory.credentials._providers import CredentialProvider, Credentials
    from aiotheory.transport.base import Transport

__all__ = [
    "DEFAULT_ADVISORY_MARGIN",
    "DEFAULT_MANDATORY_MARGIN",
    "DEFAULT_STS_TIMEOUT",
    "AssumeRoleProvider",
    "invalidate_all",
    "sts_retry_policy",
    "validate_margins",
    "validate_sts_timeout",
]

#: Seconds before expiry at which one caller starts a background refresh (botocore uses 15 min,
#: which a 900 s role can never satisfy: every call would refresh).
DEFAULT_ADVISORY_MARGIN: Final = 300.0
#: Seconds before expiry at which callers stop using the old credentials and wait for new ones.
DEFAULT_MANDATORY_MARGIN: Final = 60.0
#: Seconds one shared AssumeRole refresh (all its attempts and backoff sleeps) may take. STS answers
#: in well under a second; the bound exists so a hung STS cannot hold the refresh slot forever.
DEFAULT_STS_TIMEOUT: Final = 10.0
#: STS accepts 900 s to 12 h (the role's own maximum may be lower).
_MIN_DURATION: Final = 900
_MAX_DURATION: Final = 43200
#: After a failed background refresh, callers in the advisory window wait this long before the next
#: attempt, so a failing STS is not hit by every call.
_ADVISORY_RETRY_AFTER: Final = 5.0
#: AssumeRole attempts per refresh. A throttled cold start has no credentials to fall back on, and a
#: refresh that gives up makes the next caller start another: bench/fleet.py (1,000 containers x 10
#: roles) measured 316 failed get()s at 3 attempts and 3 at 5, for the same number of STS calls.
_STS_ATTEMPTS: Final = 5

_log: Final = _logger("aiotheory.credentials")
_LIVE: Final[weakref.WeakSet[AssumeRoleProvider]] = weakref.WeakSet()


def invalidate_all() -> None:
    """Forget every cached assumed-role credential in this process (SnapStart restore, moto reset)."""
    for provider in list(_LIVE):
        provider.reset()


class AssumeRoleProvider:
    """Temporary credentials of one role (and external id, region), from STS AssumeRole, cached.

    Exactly one refresh is in flight at a time: concurrent callers share it. `get` is one clock read
    and a comparison while the credentials are fresh. The refresh is a task the provider owns, run
    outside every caller's deadline and bounded by `sts_timeout` instead; each caller waits for it
    under its own deadline, so a caller that gives up (deadline, cancellation) fails alone and the
    refresh goes on for the others.

    Args:
        base: who calls STS (the DB's own provider).
        duration: requested session length in seconds (900-43200); expiry is taken from STS's answer.
        advisory_margin: seconds before expiry where one caller refreshes in the background.
        mandatory_margin: seconds before expiry where callers wait for new credentials.
        jitter: fraction of the gap between the margins by which the refresh point moves later at
            random, so many processes do not refresh at the same instant. 0.8 spreads a fleet's
            refreshes over most of the gap and still leaves a fifth of it before callers must wait
            (bench/fleet.py, 100 containers x 10 partners: peak 53 refreshes/s at 0.1, 11 at 0.8).
        clock: wall-clock epoch seconds (STS expiry is wall-clock time).
        sts: a fixed STS transport (tests); else `sts_factory` is called once per event loop, else the
            lean `StsTransport` is made for `region` / `sts_endpoint_url`.
        retry: the AssumeRole retry policy; default `sts_retry_policy()`, this provider's own
            (`Accounts` passes one shared by all its partners).
        invalidate_grace: `invalidate()` right after a refresh is ignored for this many seconds: an
            ExpiredToken for a request signed before that refresh says nothing of the new credentials.
        sts_timeout: seconds one refresh (every AssumeRole attempt and backoff sleep) may take before
            it fails with CredentialsError; positive and finite.

    Raises:
        ValidationError: bad duration, margins (both below the duration, mandatory below advisory)
            or sts_timeout.
    """

    __slots__ = (
        "__weakref__",
        "_advisory",
        "_base",
        "_clock",
        "_closed",
        "_creds",
        "_endpoint_url",
        "_fetched_at",
        "_grace",
        "_jitter",
        "_mandatory",
        "_mandatory_at",
        "_next_try",
        "_payload",
        "_policy",
        "_random",
        "_refresh_at",
        "_sts",
        "_sts_factory",
        "_sts_fixed",
        "_sts_loop",
        "_sts_timeout",
        "_task",
        "external_id_set",
        "refreshes",
        "region",
        "role_arn",
    )

    def __init__(
        self,
        role_arn: str,
        *,
        base: CredentialProvider,
        external_id: str | None = None,
        region: str | None = None,
        session_name: str = "aiotheory",
        duration: int = 3600,
        advisory_margin: float = DEFAULT_ADVISORY_MARGIN,
        mandatory_margin: float = DEFAULT_MANDATORY_MARGIN,
        jitter: float = 0.8,
        clock: Clock = time.time,
        random: RandomFn = _random.random,
        sts: Transport | None = None,
        sts_factory: Callable[[], Transport] | None = None,
        sts_endpoint_url: str | None = None,
        retry: RetryPolicy | None = None,
        invalidate_grace: float = 1.0,
        sts_timeout: float = DEFAULT_STS_TIMEOUT,
    ) -> None:
        if not _MIN_DURATION <= duration <= _MAX_DURATION:
            raise ValidationError(
                f"AssumeRole duration must be {_MIN_DURATION}-{_MAX_DURATION} s, got {duration}"
            )
        validate_margins(advisory_margin, mandatory_margin, duration)
        if not 0 <= jitter <= 1:
            raise ValidationError("AssumeRole jitter is a fraction between 0 and 1")
        validate_sts_timeout(sts_timeout)
        # The STS client and the wire under it load when a role is first configured, not at import.
        from aiotheory.credentials._sts import build_assume_role_payload

        self._payload: Payload = build_assume_role_payload(
            role_arn, session_name, duration_seconds=duration, external_id=external_id
        )
        self.role_arn = role_arn
        self.region = region
        self.external_id_set = external_id is not None
        self._base = base
        self._advisory = float(advisory_margin)
        self._mandatory = float(mandatory_margin)
        self._jitter = jitter
        self._clock = clock
        self._random = random
        self._sts_fixed = sts
        self._sts_factory = sts_factory
        self._endpoint_url = sts_endpoint_url
        self._sts: Transport | None = sts
        self._sts_loop: asyncio.AbstractEventLoop | None = None
        self._policy = retry if retry is not None else sts_retry_policy(random=random)
        self._grace = invalidate_grace
        self._sts_timeout = float(sts_timeout)
        self._creds: Credentials | None = None
        self._refresh_at = 0.0
        self._mandatory_at = 0.0
        self._fetched_at = 0.0
        self._next_try = 0.0
        self._task: asyncio.Task[Credentials] | None = None
        self._closed = False
        #: How many AssumeRole calls succeeded (observability and tests).
        self.refreshes = 0
        _LIVE.add(self)

    def __repr__(self) -> str:
        # Never the external id or any key: the role ARN and region identify the account.
        return f"AssumeRoleProvider(role_arn={self.role_arn!r}, region={self.region!r})"

    # ---------------------------------------------------------------------------------- the seam

    async def get(self) -> Credentials:
        """Fresh credentials for the role: cached, refreshed ahead of expiry by one caller.

        Raises:
            CredentialsError: AssumeRole failed (or took longer than `sts_timeout`) and the cached
                credentials are inside the mandatory margin (or there are none).
            DeadlineExceeded: this caller's deadline ran out while waiting for AssumeRole (the shared
                refresh goes on for the other callers).
        """
        creds = self._creds
        if creds is not None:
            now = self._clock()
            if now < self._refresh_at:
                return creds
            if now < self._mandatory_at:
                self._refresh_in_background(now)
                return creds
        return await self._refresh_and_wait()

    def invalidate(self) -> None:
        """AWS said the credentials expired: the next `get` waits for new ones (see invalidate_grace)."""
        if self._creds is not None and self._clock() - self._fetched_at >= self._grace:
            self._creds = None

    def reset(self) -> None:
        """Drop the credentials and any loop-bound state (the refresh task, the STS client).

        A refresh running on this loop is cancelled, so credentials fetched before the reset never land
        after it; its waiters get CredentialsError. Nothing bound to another loop is touched: that loop
        may be closed (SnapStart restore, a new runner).
        """
        self._creds = None
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is _running_loop():
            task.cancel()
        if self._sts_fixed is None:
            self._sts = None
            self._sts_loop = None

    async def close(self) -> None:
        """Cancel a refresh in flight, drop the credentials and close an STS client this provider made.

        A closed cache never calls STS again: `get` raises CredentialsError (a removed partner's DB
        must not assume the role after the removal).
        """
        self._closed = True
        self._creds = None
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, AiotheoryError):
                await task
        sts, self._sts = self._sts, None
        if sts is not None and self._sts_fixed is None and self._sts_loop is asyncio.get_running_loop():
            await sts.close()

    # ------------------------------------------------------------------------------- refreshing

    def _current_task(self) -> asyncio.Task[Credentials] | None:
        task = self._task
        if task is not None and task.get_loop() is not asyncio.get_running_loop():
            # Made in a loop that is gone (asyncio.run per call, SnapStart): forget it untouched.
            task = self._task = None
        return task

    def _start_refresh(self) -> asyncio.Task[Credentials]:
        # A copy of the starter's context without its deadline scope: the refresh is shared, so the
        # starter's deadline (or cancellation) must not end it for everyone; `sts_timeout` bounds it.
        task = asyncio.get_running_loop().create_task(self._fetch(), context=detached_context())
        task.add_done_callback(self._refresh_done)
        self._task = task
        return task

    def _refresh_in_background(self, now: float) -> None:
        task = self._current_task()
        if task is not None and not task.done():
            return
        if now < self._next_try:
            return
        self._start_refresh()

    def _refresh_done(self, task: asyncio.Task[Credentials]) -> None:
        # The provider owns the task: its outcome is always retrieved here, so a refresh whose waiters
        # all gave up never logs "Task exception was never retrieved".
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or self._creds is None or self._clock() >= self._mandatory_at:
            # Success, or the failure went to the callers waiting for it (the next caller retries).
            return
        # Old credentials still valid: the failure stays in the log, and the next caller past
        # `_next_try` tries again.
        self._next_try = self._clock() + _ADVISORY_RETRY_AFTER
        _log.warning(
            "background AssumeRole refresh failed role_arn=%s error=%s", self.role_arn, _describe(exc)
        )

    async def _refresh_and_wait(self) -> Credentials:
        if self._closed:
            raise CredentialsError(f"the credential cache for {self.role_arn} is closed")
        task = self._current_task()
        if task is None or task.done():
            task = self._start_refresh()
        try:
            # This caller's own deadline bounds its wait; shield: giving up (deadline, cancellation)
            # must not cancel the refresh the other callers share.
            async with bounded("AssumeRole"):
                return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not _cancelling():
                # The refresh itself was cancelled (reset, close), not this caller.
                raise CredentialsError(
                    f"AssumeRole for {self.role_arn} was abandoned: the credential cache was reset or closed"
                ) from None
            raise
        except DeadlineExceeded:
            raise
        except CredentialsError:
            raise
        except AiotheoryError as exc:
            raise CredentialsError(
                f"AssumeRole for {self.role_arn} failed and the credentials are expiring: {_describe(exc)}"
            ) from exc

    async def _fetch(self) -> Credentials:
        from aiotheory.credentials._sts import credentials_from_assume_role

        try:
            with deadline(seconds=self._sts_timeout):
                reply = await call(self._sts_transport(), "AssumeRole", self._payload, self._policy)
        except DeadlineExceeded as exc:
            # CredentialsError, not DeadlineExceeded: no caller's deadline ran out, STS did not answer.
            raise CredentialsError(
                f"AssumeRole for {self.role_arn} got no answer within sts_timeout={self._sts_timeout:g}s"
            ) from exc
        try:
            creds = credentials_from_assume_role(reply)
        except (KeyError, TypeError, ValueError) as exc:
            raise CredentialsError(f"AssumeRole for {self.role_arn} returned no usable credentials") from exc
        now = self._clock()
        expiration = creds.expiration if creds.expiration is not None else now + _MIN_DURATION
        lifetime = expiration - now
        if lifetime <= self._advisory:
            # STS granted less than asked (role maximum, chained role): refresh half-way to the
            # mandatory point rather than on every call.
            refresh_at = now + max(lifetime - self._mandatory, 0.0) / 2
        else:
            window = self._advisory - self._mandatory
            refresh_at = expiration - self._advisory + self._random() * self._jitter * window
        self._creds = creds
        self._fetched_at = now
        self._refresh_at = refresh_at
        self._mandatory_at = expiration - self._mandatory
        self._next_try = 0.0
        self.refreshes += 1
        _log.debug("assumed role role_arn=%s expires_in=%.0fs", self.role_arn, lifetime)
        return creds

    def _sts_transport(self) -> Transport:
        if self._sts_fixed is not None:
            return self._sts_fixed
        loop = asyncio.get_running_loop()
        sts = self._sts
        if sts is None or self._sts_loop is not loop:
            if self._sts_factory is not None:
                sts = self._sts_factory()
            else:
                from aiotheory.credentials._sts import StsTransport

                sts = StsTransport(self.region or "us-east-1", self._base, endpoint_url=self._endpoint_url)
            self._sts = sts
            self._sts_loop = loop
        return sts


def sts_retry_policy(
    *, clock: Clock = time.monotonic, random: RandomFn = _random.random, sleep: SleepFn | None = None
) -> RetryPolicy:
    """The retry policy for AssumeRole: adaptive mode (a client-side rate limiter) and 5 attempts.

    Share one among every role a process assumes (`Accounts` does): STS's AssumeRole quota is per
    calling account, so when a fleet's cold start is throttled, the limiter slows all of this
    process's AssumeRole attempts together, as botocore's adaptive mode does, instead of each role
    retrying on its own schedule. `clock` is the limiter's (monotonic seconds).
    """
    if sleep is None:
        return RetryPolicy(
            mode="adaptive", max_attempts=_STS_ATTEMPTS, limiter=RateLimiter(clock), random=random
        )
    return RetryPolicy(
        mode="adaptive", max_attempts=_STS_ATTEMPTS, limiter=RateLimiter(clock), random=random, sleep=sleep
    )


def validate_margins(advisory: float, mandatory: float, duration: float) -> None:
    """Raises ValidationError unless 0 <= mandatory < advisory < duration."""
    if not 0 <= mandatory < advisory < duration:
        raise ValidationError(
            "credential margins must satisfy 0 <= mandatory_margin < advisory_margin < duration "
            f"(got mandatory={mandatory:g}s, advisory={advisory:g}s, duration={duration:g}s)"
        )


def validate_sts_timeout(sts_timeout: float) -> None:
    """Raises ValidationError unless sts_timeout is a positive, finite number of seconds."""
    if not (sts_timeout > 0 and math.isfinite(sts_timeout)):
        raise ValidationError(f"sts_timeout must be a positive number of seconds, got {sts_timeout!r}")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # reset() from sync code (SnapStart restore hook, a test between loops)
        return None


def _cancelling() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _describe(exc: BaseException) -> str:
    # Our own CredentialsError wraps what happened (an STS timeout): name that.
    while isinstance(exc, CredentialsError) and exc.__cause__ is not None:
        exc = exc.__cause__
    # The code, never a message that might quote a request: STS messages can echo parameters.
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}({code})" if code else type(exc).__name__
