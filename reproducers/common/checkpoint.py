"""Checkpoints that load with ``torch.load(weights_only=True)``, written atomically (the
trainer's names for ``harness/weights.py``'s ``save_file`` / ``load_file``)."""

from __future__ import annotations

from pathlib import Path

from reproducers.harness.weights import load_file, save_file


def save_checkpoint(path: Path, state: dict) -> Path:
    """Write ``state`` (tensors, numbers, strings, nested dicts/lists) atomically."""
    return save_file(path, state)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Read with ``weights_only=True``; a one-line ``UserError`` if absent or not loadable."""
    return load_file(path, map_location=map_location)
