"""aiotheory's test kit and pytest plugin (`-p aiotheory.testing`): engines, fixtures, fakes, proxies.

Importing the kit loads neither pytest nor moto: the fixtures live in `_plugin`, which pytest loads
through `pytest_plugins` below, and moto is imported when a MotoServer starts.
"""

from __future__ import annotations

from ._damaging_proxy import Damage as Damage
from ._damaging_proxy import DamagingProxy as DamagingProxy
from ._engines import Backend as Backend
from ._engines import DynamoDBLocal as DynamoDBLocal
from ._engines import MakeTable as MakeTable
from ._engines import MotoServer as MotoServer
from ._engines import fetch_dynamodb_local as fetch_dynamodb_local
from ._engines import find_dynamodb_local as find_dynamodb_local
from ._engines import user_cache_dir as user_cache_dir
from ._fakes import ExpiredTokenFault as ExpiredTokenFault
from ._fakes import FakeTransport as FakeTransport
from ._fakes import Fault as Fault
from ._fakes import FaultTransport as FaultTransport
from ._fakes import LostReply as LostReply
from ._fakes import RecordingTransport as RecordingTransport
from ._fakes import ServerFault as ServerFault
from ._fakes import Stall as Stall
from ._fakes import Throttle as Throttle
from ._fakes import Unprocessed as Unprocessed
from ._keepalive import KeepAliveStub as KeepAliveStub
from ._runtime_api import LambdaProcess as LambdaProcess
from ._runtime_api import RuntimeApi as RuntimeApi
from ._runtime_api import RuntimeInvocation as RuntimeInvocation

__all__ = [
    "Backend",
    "Damage",
    "DamagingProxy",
    "DynamoDBLocal",
    "ExpiredTokenFault",
    "FakeTransport",
    "Fault",
    "FaultTransport",
    "KeepAliveStub",
    "LambdaProcess",
    "LostReply",
    "MakeTable",
    "MotoServer",
    "RecordingTransport",
    "RuntimeApi",
    "RuntimeInvocation",
    "ServerFault",
    "Stall",
    "Throttle",
    "Unprocessed",
    "fetch_dynamodb_local",
    "find_dynamodb_local",
    "user_cache_dir",
]

#: Registers the fixtures and hooks when pytest loads this package as a plugin (`-p aiotheory.testing`).
pytest_plugins = ["aiotheory.testing._plugin"]
