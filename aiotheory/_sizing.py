"""Lambda detection and sizing from the function's memory: pure functions of the environment.

Kept apart from `aws_lambda` so the DB can size its pool without loading the handler machinery.
Imports only the standard library and `errors`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Sizing", "is_lambda", "lambda_memory_mb", "sizing"]


def is_lambda(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs inside a Lambda execution environment (or the runtime emulator)."""
    env = os.environ if environ is None else environ
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and (
        bool(env.get("AWS_LAMBDA_RUNTIME_API")) or env.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")
    )


def lambda_memory_mb(environ: Mapping[str, str] | None = None) -> int | None:
    """The function's configured memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), or None outside Lambda."""
    env = os.environ if environ is None else environ
    raw = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value > 0 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizing:
    """Concurrency knobs sized for the machine: connections per endpoint, batch chunks and scan
    segments in flight at once."""

    pool_size: int
    batch_concurrency: int
    scan_concurrency: int


# Lambda gives one full vCPU at 1,769 MB and CPU in proportion below it; a small function cannot
# drive many connections (each request costs ~80 µs of CPU on the lean wire), a large one can.
_OUTSIDE_LAMBDA: Final = Sizing(pool_size=64, batch_concurrency=8, scan_concurrency=4)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def sizing(
    memory_mb: int | None = None,
    *,
    pool_size: int | None = None,
    batch_concurrency: int | None = None,
    scan_concurrency: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Sizing:
    """Defaults from the function's memory (`lambda_memory_mb()` when not given); any argument wins.

    128 MB -> 8 connections, 2 batch chunks, 1 scan segment in flight; 1,769 MB (1 vCPU) -> 55 / 13 / 6;
    capped at 128 / 16 / 16. Outside Lambda: 64 / 8 / 4.

    Raises:
        ValidationError: an override is below 1.
    """
    mem = memory_mb if memory_mb is not None else lambda_memory_mb(environ)
    if mem is None:
        base = _OUTSIDE_LAMBDA
    else:
        base = Sizing(
            pool_size=_clamp(mem // 32, 8, 128),
            batch_concurrency=_clamp(mem // 128, 2, 16),
            scan_concurrency=_clamp(mem // 256, 1, 16),
        )
    chosen = Sizing(
        pool_size=base.pool_size if pool_size is None else pool_size,
        batch_concurrency=base.batch_concurrency if batch_concurrency is None else batch_concurrency,
        scan_concurrency=base.scan_concurrency if scan_concurrency is None else scan_concurrency,
    )
    if min(chosen.pool_size, chosen.batch_concurrency, chosen.scan_concurrency) < 1:
        raise ValidationError("sizing overrides must be at least 1")
    return chosen
