"""`python -m aiotheory`: the command line: `tables diff|apply` (schema evolution from models) and
`dms validate|diff|models|export` (TableTheory's DMS documents).

Entry-point code: it parses arguments, imports the user's model modules, runs `DB.migrate` per model in
one event loop (tables) or calls `aiotheory.dms` (dms), and writes results to stdout. Imported only by
`aiotheory.__main__`, never by the package.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Final, Literal

from ._observe import logger as _logger
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
    dms = commands.add_parser(
        "dms",
        help="TableTheory DMS documents: validate, compare with models, generate models, export",
        description=(
            "validate FILE...: check DMS v0.1 documents (exit 1 if one is invalid). "
            "diff FILE module:Model...: compare models with the document's models of the same name "
            "(exit 1 with the differences). models FILE: print Python source for the document's models. "
            "export module:Model...: print a DMS document describing the models."
        ),
    )
    dms_actions = dms.add_subparsers(dest="action", required=True)
    validate = dms_actions.add_parser("validate", help="check DMS documents")
    validate.add_argument("files", nargs="+", metavar="FILE")
    dms_diff = dms_actions.add_parser("diff", help="compare models with a DMS document")
    dms_diff.add_argument("file", metavar="FILE")
    dms_diff.add_argument("models", nargs="+", metavar="module:Model")
    dms_diff.add_argument("--ignore-table", action="store_true", help="do not compare table names")
    models = dms_actions.add_parser("models", help="print Python source for a DMS document's models")
    models.add_argument("file", metavar="FILE")
    export = dms_actions.add_parser("export", help="print a DMS document describing models")
    export.add_argument("models", nargs="+", metavar="module:Model")
    export.add_argument("--format", choices=("yaml", "json"), default=None, help="default: YAML with PyYAML")
    export.add_argument("--namespace", default="")
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


def _dms(args: argparse.Namespace) -> int:
    from . import dms

    action = args.action
    if action == "validate":
        invalid = 0
        for name in args.files:
            try:
                document = dms.load(name)
            except (ValidationError, OSError) as exc:
                sys.stdout.write(f"{name}: invalid: {exc}\n")
                invalid += 1
                continue
            names = ", ".join(m.name for m in document.models)
            sys.stdout.write(f"{name}: ok ({len(document.models)} models: {names})\n")
        return 1 if invalid else 0
    if action == "models":
        sys.stdout.write(dms.python_source(dms.load(args.file)))
        return 0
    if action == "export":
        sys.stdout.write(dms.export(*load_models(args.models), format=args.format, namespace=args.namespace))
        return 0
    document = dms.load(args.file)
    differs = False
    for model in load_models(args.models):
        differences = dms.diff(model, document.model(model.__name__), ignore_table=args.ignore_table)
        if differences:
            differs = True
            sys.stdout.write(f"{model.__name__}: differs from the DMS model\n")
            sys.stdout.writelines(f"  {line}\n" for line in differences)
        else:
            sys.stdout.write(f"{model.__name__}: equivalent\n")
    return 1 if differs else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 1 `diff` found changes or `dms validate` an
    invalid document, 2 refused or failed)."""
    args = _parser().parse_args(argv)
    if args.command == "dms":
        try:
            return _dms(args)
        except (AiotheoryError, OSError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    # Progress of `apply` (each GSI's status while DynamoDB builds it) goes to stderr, plans to stdout.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    progress = _logger("aiotheory.tables")
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
