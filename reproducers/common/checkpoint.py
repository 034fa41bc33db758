"""Checkpoints that load with ``torch.load(weights_only=True)``, written atomically."""

from __future__ import annotations

from pathlib import Path

import torch

from reproducers.harness.atomic import write_atomic


def save_checkpoint(path: Path, state: dict) -> Path:
    """Write ``state`` (tensors, numbers, strings, nested dicts/lists) atomically."""
    return write_atomic(Path(path), lambda p: torch.save(state, p))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    return torch.load(Path(path), map_location=map_location, weights_only=True)
