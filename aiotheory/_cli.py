"""`python -m aiotheory`: the command line (today `tables diff|apply`, schema evolution from models).

Entry-point code: it parses arguments, imports the user's model modules, runs `DB.migrate` per model in
one event loop and writes the plans to stdout. Imported only by `aiotheory.__main__`, never by the package.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Final, Literal

from .errors import AiotheoryError, ValidationError
from .model import Model

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["load_models", "main"]

#: Seconds `tables apply` may take by default: a GSI backfill on a large table can take minutes.
_DEFAULT_TIMEOUT: Final = 900.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aiotheory", description="aiotheory command line")
    commands = parser.add_subparsers(dest="command", required=True)
    tables = commands.add_parser(
        "tables",
        help="compare tables with their models (diff) or bring them in line (apply)",
        description=(
            "diff: print what `db.migrate` would change, sending only DescribeTable/DescribeTimeToLive "
            "(exit status 1 when something would change). apply: create missing tables, add and remove "
            "GSIs one at a time, enable TTL. The endpoint, region and credentials come from the usual "
            "AWS environment variables unless given."
        ),
    )
    tables.add_argument("action", choices=("diff", "apply"))
    tables.add_argument(
        "models", nargs="+", metavar="module:Model", help="a model class, or a module (all its table models)"
    )
    tables.add_argument("--region", default=None)
    tables.add_argument("--endpoint-url", default=None, help="e.g. http://127.0.0.1:8000 for DynamoDB Local")
    tables.add_argument(
        "--table-prefix", default=None, help="default: the AIOTHEORY_TABLE_PREFIX environment variable"
    )
    tables.add_argument("--transport", choices=("lean", "botocore"), default="lean")
    tables.add_argument(
        "--timeout",
        type=float,
        default=_DEFAULT_TIMEOUT,
        help=f"seconds for all models (default {_DEFAULT_TIMEOUT:g})",
    )
    return parser


def load_models(specs: Sequence[str]) -> list[type[Model]]:
    """The model classes named by `module:Model` or `module` (every table model it defines), in order.

    One model per table: the models sharing a table (single-table design) are migrated as one table
    with all their indexes, so only the first named stands for it.

    Raises ValidationError for a module that does not import, a missing name, or a class that is not a
    table model.
    """
    found: list[type[Model]] = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValidationError(f"{spec}: cannot import {module_name!r} ({exc})") from exc
        if attr:
            obj = getattr(module, attr, None)
            if not (isinstance(obj, type) and issubclass(obj, Model) and obj.__aiotheory_table__ is not None):
                raise ValidationError(f"{spec}: not a Model class with a table")
            found.append(obj)
            continue
        models = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, Model)
            and obj.__module__ == module.__name__
            and obj.__aiotheory_table__ is not None
        ]
        if not models:
            raise ValidationError(f"{spec}: the module defines no Model class with a table")
        found.extend(models)
    tables: dict[str, type[Model]] = {}
    for model in found:
        schema = model.__aiotheory_table__
        if schema is not None:
            tables.setdefault(schema.table, model)
    return list(tables.values())


async def _tables(
    action: Literal["diff", "apply"], models: list[type[Model]], args: argparse.Namespace
) -> bool:
    from .db import DB
    from .deadlines import deadline

    changes = False
    async with DB(
        region=args.region,
        endpoint_url=args.endpoint_url,
        table_prefix=args.table_prefix,
        transport=args.transport,
    ) as db:
        with deadline(seconds=args.timeout):
            for model in models:
                plan = await db.migrate(model, dry_run=action == "diff")
                sys.stdout.write(f"{plan}\n")
                sys.stdout.flush()
                changes = changes or bool(plan)
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 1 `diff` found changes, 2 refused or failed)."""
    args = _parser().parse_args(argv)
    # Progress of `apply` (each GSI's status while DynamoDB builds it) goes to stderr, plans to stdout.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    progress = logging.getLogger("aiotheory.tables")
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    try:
        models = load_models(args.models)
        changes = asyncio.run(_tables(args.action, models, args))
    except AiotheoryError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    finally:
        progress.removeHandler(handler)
    return 1 if changes and args.action == "diff" else 0
