"""Subcommands registered by the modules that own them (harness/commands.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reproducers.harness import commands
from reproducers.harness.errors import UserError
from reproducers.harness.provenance import REPO_ROOT


def test_help_lists_the_registered_mot_commands():
    proc = subprocess.run([sys.executable, "-m", "reproducers", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "evaluate-mot" in proc.stdout and "mot-convert" in proc.stdout
    assert "reproducers.common.mot.commands" in commands.command_modules()


def test_listing_commands_imports_no_heavy_dependency():
    code = ("import sys; from reproducers.cli import build_parser; build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mmcv', 'mmdet', 'mmengine', 'trackeval', 'torch', 'timm'}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_command_declared_twice_is_a_one_line_error(monkeypatch):
    name = "reproducers.common.mot.commands"
    monkeypatch.setattr(commands, "command_modules", lambda: [name, name])
    commands.discover_commands.cache_clear()
    try:
        with pytest.raises(UserError, match="'evaluate-mot' is declared twice"):
            commands.discover_commands()
    finally:
        commands.discover_commands.cache_clear()
