"""The ``axiom`` command: a thin dispatcher over subcommand groups, each in its own module.

Only this module is imported at start-up; a group's module (and whatever heavy library it
needs: numpy, aiohttp, kopf) is imported when that group is run, so ``axiom cert verify``
never pays for the model engine and ``axiom --help`` is instant. A group is a module that
defines ``configure(parser)``: it adds its subcommands and sets ``handler``
(``(argparse.Namespace) -> int``) on each, and may define ``SUMMARY`` for the help.

The runtime's own groups are listed in ``COMMANDS``. Other distributions add theirs through
the ``axiom.commands`` entry-point group (name = the command, value = the module), which is
how the ``axiom-operator`` distribution provides ``axiom operator``: the runtime distribution
imports nothing of the operator, and an image with only the runtime has no such command.

Exit codes: 0 success, 1 failure (verification failed, bad package, unreadable file),
2 usage error. Errors go to stderr as one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class CommandGroup:
    module: str
    summary: str


COMMANDS: dict[str, CommandGroup] = {
    "model": CommandGroup(
        "axiom_runtime.cli_model", "build, inspect, convert and run .axiom model packages"
    ),
    "cert": CommandGroup(
        "axiom_runtime.cli_cert", "create signing keys, sign and verify model certificates"
    ),
    "serve": CommandGroup("axiom_runtime.cli_serve", "serve a verified model over HTTP"),
}
ENTRY_POINT_GROUP = "axiom.commands"
# Commands other distributions provide, so that their absence is explained, not "unknown".
PROVIDED_ELSEWHERE = {"operator": "axiom-operator"}


class CommandFailed(Exception):
    """Raised by a handler to stop with exit code 1 and a one-line message."""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, as the rest of the CLI reports errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def installed_commands() -> dict[str, CommandGroup]:
    """The runtime's groups and those registered under ``axiom.commands``, by command name."""
    commands = dict(COMMANDS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in commands:  # a plugin cannot replace a built-in command
            commands[entry.name] = CommandGroup(entry.value, "")
    return commands


def _summary(group: CommandGroup) -> str:
    if group.summary:
        return group.summary
    try:
        module = importlib.import_module(group.module)
    except ImportError as exc:
        return f"(cannot be loaded: {exc})"
    summary = getattr(module, "SUMMARY", None) or (module.__doc__ or "").strip()
    return str(summary).splitlines()[0] if summary else ""


def _top_level_help(commands: dict[str, CommandGroup]) -> str:
    width = max(len(name) for name in commands)
    lines = [
        "usage: axiom <command> <subcommand> [options]",
        "",
        "Package, sign, verify and serve machine-learning models for the Axiom operator.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {_summary(group)}" for name, group in commands.items()),
        "",
        "Run 'axiom <command> --help' for the subcommands of a command.",
    ]
    return "\n".join(lines) + "\n"


def _fail(message: str, code: int) -> int:
    print(f"axiom: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    commands = installed_commands()
    if not arguments or arguments[0] in ("-h", "--help", "help"):
        sys.stdout.write(_top_level_help(commands))
        return EXIT_OK if arguments else EXIT_USAGE
    if arguments[0] == "--version":
        from importlib.metadata import version

        print(f"axiom {version('axiom-runtime')}")
        return EXIT_OK
    name, rest = arguments[0], arguments[1:]
    group = commands.get(name)
    if group is None and name in PROVIDED_ELSEWHERE:
        return _fail(
            f"command {name!r} is not installed: it comes with the "
            f"{PROVIDED_ELSEWHERE[name]} distribution (pip install {PROVIDED_ELSEWHERE[name]})",
            EXIT_USAGE,
        )
    if group is None:
        return _fail(f"unknown command {name!r} (choose from {', '.join(commands)})", EXIT_USAGE)
    try:
        module = importlib.import_module(group.module)
    except ImportError as exc:
        if name in COMMANDS:
            raise
        return _fail(f"command {name!r} is installed but cannot be loaded: {exc}", EXIT_FAILURE)
    parser = Parser(prog=f"axiom {name}", description=_summary(group))
    module.configure(parser)
    options = parser.parse_args(rest)
    handler = getattr(options, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from axiom_runtime.errors import AxiomError

    try:
        return int(handler(options))
    except (AxiomError, CommandFailed) as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{':' if where else ''}{where}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return 130


def entry_point() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
