"""Missing optional dependencies: the error names the extra to install, at construction, not first use.

Each case runs in a fresh interpreter where the dependency is made absent the way Python itself
spells it (`sys.modules[name] = None`: imports fail, `importlib.util.find_spec` answers None).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]

_HIDE_AND_CALL = """
import sys
sys.modules[{hidden!r}] = None
from aiotheory import MissingExtra
try:
    {call}
except MissingExtra as exc:
    print(type(exc).__mro__[1:4], exc.extra, exc.name, isinstance(exc, ImportError))
    print(exc)
else:
    print("no error")
"""


def _run_without(hidden: str, call: str) -> list[str]:
    code = _HIDE_AND_CALL.format(hidden=hidden, call=call)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env, cwd=_ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_db_raises_missing_extra_naming_botocore_when_aiobotocore_is_absent() -> None:
    lines = _run_without("aiobotocore", "from aiotheory import DB; DB(transport='botocore')")
    assert lines[0].endswith("botocore aiobotocore True")
    assert 'pip install "aiotheory[botocore]"' in lines[1]


def test_db_builds_the_lean_transport_when_aiobotocore_is_absent() -> None:
    assert _run_without("aiobotocore", "from aiotheory import DB; DB(transport='lean')") == ["no error"]


def test_moto_server_raises_missing_extra_naming_testing_when_moto_is_absent() -> None:
    lines = _run_without("moto", "from aiotheory.testing import MotoServer; MotoServer()")
    assert lines[0].endswith("testing moto True")
    assert 'pip install "aiotheory[testing]"' in lines[1]


def test_db_encryption_raises_missing_extra_naming_crypto_when_cryptography_is_absent() -> None:
    lines = _run_without(
        "cryptography", "from aiotheory import DB; DB(region='us-east-1', kms_key_id='k').encryption"
    )
    assert lines[0].endswith("crypto cryptography True")
    assert 'pip install "aiotheory[crypto]"' in lines[1]
