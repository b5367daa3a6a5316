"""The ``aicr`` command: dataset and results work outside a pytest run.

A thin dispatcher. Each subcommand lives in its own module, which offers
``add_arguments(parser)`` and ``run(args) -> int``; adding one is a line in
:data:`SUBCOMMANDS`. Exit statuses are pytest's: 0 ok, 1 a check failed, 4 the
input is unusable (the same message a pytest run would give, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from pytest_aicr.errors import UsageProblem

USAGE_ERROR = 4
"""pytest's exit status for a usage error, kept for the same mistakes here."""

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("pytest_aicr.validate", "check datasets and count samples by class"),
    "convert": ("pytest_aicr.convert", "convert a dataset between formats"),
    "merge": ("pytest_aicr.merge", "merge shard results into one results file"),
    "gate": ("pytest_aicr.gate_command", "apply the run's gates to a results file"),
    "report": ("pytest_aicr.report_command", "render a results file as an HTML page"),
}
"""Subcommand name: (module, one-line help)."""


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes exit 4, as pytest's own do (argparse would exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; modules are imported only to add arguments."""
    parser = _Parser(
        prog="aicr", description="Work with pytest-aicr datasets and results."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    args = build_parser().parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        status: int = module.run(args)
    except UsageProblem as problem:
        sys.stderr.write(f"aicr {args.command}: error: {problem}\n")
        return USAGE_ERROR
    return status


if __name__ == "__main__":
    raise SystemExit(main())
