"""Subcommands owned by the module they serve, discovered like reproductions.

A module named ``commands.py`` anywhere under ``reproducers`` (a paper folder or a ``common``
package) that exposes ``COMMANDS: list[Command]`` adds those subcommands to
``python -m reproducers``. Discovery finds the files on disk and imports only those modules
(and their packages' ``__init__``), so listing commands stays cheap: a commands module imports
its heavy dependencies (TrackEval, mmcv, ...) inside its handler, never at module level.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # reproducers/


@dataclass(frozen=True)
class Command:
    """One subcommand. ``add_arguments(parser)`` declares its arguments (the CLI adds
    ``--json``); ``handler(args, log) -> (data, text)`` does the work and returns what the CLI
    prints: ``data`` as JSON with ``--json``, else ``text``. Bad input raises ``UserError``
    (one line, exit 2)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace, Callable[[str], None]], tuple[Any, str]]


def command_modules() -> list[str]:
    """Dotted names of every ``commands.py`` under the package, sorted (this module aside)."""
    here = Path(__file__).resolve()
    return sorted(
        ".".join(("reproducers", *p.relative_to(PACKAGE_DIR).with_suffix("").parts))
        for p in PACKAGE_DIR.rglob("commands.py")
        if p.resolve() != here and "__pycache__" not in p.parts
    )


@cache
def discover_commands() -> tuple[Command, ...]:
    found: dict[str, tuple[Command, str]] = {}
    for name in command_modules():
        for cmd in getattr(importlib.import_module(name), "COMMANDS", []):
            if cmd.name in found:
                raise UserError(f"command {cmd.name!r} is declared twice "
                                f"({found[cmd.name][1]} and {name})")
            found[cmd.name] = (cmd, name)
    return tuple(cmd for cmd, _ in found.values())
