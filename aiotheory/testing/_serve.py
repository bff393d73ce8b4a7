"""`python -m aiotheory.testing serve {moto|dynamodb-local}`: a local DynamoDB engine for development.

Starts the engine, prints its endpoint and the environment lines to export, and stops it cleanly on
Ctrl-C or SIGTERM. Standard library only; the engines import moto or run java themselves.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._engines import ACCESS_KEY, REGION, SECRET_KEY, DynamoDBLocal, MotoServer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

__all__ = ["ENGINES", "environment", "main"]

#: The engine names `serve` accepts.
ENGINES: Final = ("moto", "dynamodb-local")


def environment(endpoint_url: str) -> dict[str, str]:
    """The variables a process needs to reach the served engine with the kit's fixed key and region.

    DynamoDB Local keeps one database per access key and region, so every client must use these.
    """
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aiotheory.testing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a local DynamoDB engine until Ctrl-C")
    serve.add_argument("engine", choices=ENGINES)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    serve.add_argument(
        "--persist",
        type=Path,
        metavar="DIR",
        help="dynamodb-local only: keep the tables in DIR across restarts instead of in memory",
    )
    return parser


class _StopFlag:
    """Set by SIGINT/SIGTERM; the main thread waits on it (a bound method as handler, no closure)."""

    __slots__ = ("event", "signum")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        self.event.set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 after a clean stop)."""
    args = _parser().parse_args(argv)
    engine: MotoServer | DynamoDBLocal
    if args.engine == "moto":
        if args.persist is not None:
            print(
                "serve: --persist is for dynamodb-local; moto keeps its tables in memory only",
                file=sys.stderr,
            )
            return 2
        engine = MotoServer(host=args.host, port=args.port)
    else:
        engine = DynamoDBLocal(host=args.host, port=args.port, db_path=args.persist)
    stop = _StopFlag()
    # Installed before starting, so a signal during a slow start (a first fetch, java) still stops cleanly.
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        engine.start()
        try:
            endpoint = engine.endpoint_url
            where = f"tables in {args.persist}" if args.persist is not None else "in memory"
            print(f"aiotheory: {args.engine} serving DynamoDB at {endpoint} ({where}); Ctrl-C stops it")
            print("# paste into the shell that runs your app:")
            for name, value in environment(endpoint).items():
                print(f"export {name}={value}")
            sys.stdout.flush()
            stop.event.wait()
        finally:
            engine.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"aiotheory: {args.engine} stopped", file=sys.stderr)
    return 0
