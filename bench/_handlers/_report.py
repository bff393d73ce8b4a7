"""Stamps for a cold-start run, at no import cost: `os` and `time` are loaded before any user code.

`init_done()` marks the end of the init phase (imports, models, client) and reads the RSS then;
`answered()` marks the first GetItem answered; `report()` prints both stamps (CLOCK_MONOTONIC, the
clock the parent stamped just before it started this process) and the RSS figures.
"""

from __future__ import annotations

import os
import time

__all__ = ["answered", "init_done", "report"]

_stamps: dict[str, float] = {}
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_kib() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE // 1024


def init_done() -> None:
    _stamps["init"] = time.perf_counter()
    _stamps["rss_init"] = _rss_kib()


def answered() -> None:
    _stamps["answered"] = time.perf_counter()


def report() -> None:
    import resource  # after the stamps: not part of the measured cold start

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"BENCH {_stamps['init']!r} {_stamps['answered']!r} {int(_stamps['rss_init'])} {peak}", flush=True)
