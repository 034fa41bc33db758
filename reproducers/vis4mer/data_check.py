"""``data check`` for the ViS4mer feature datasets: which feature files of a split are missing
or unreadable (bad header, truncated, wrong shape, NaN/inf values), without training."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from reproducers.harness.errors import UserError

from .data import check_feature_shape, npy_shape, open_features

CHUNK = 16  # leading rows (segments / seconds) read at a time by the value check


def non_finite(path: Path, tokens: int, dim: int) -> str | None:
    """Why the file's values are unusable (NaN/inf and where), or None; reads the whole file
    in chunks of ``CHUNK`` rows through a memory map."""
    arr = open_features(path, tokens, dim)
    for start in range(0, arr.shape[0], CHUNK):
        bad = ~np.isfinite(np.asarray(arr[start:start + CHUNK]))
        if bad.any():
            row = start + int(np.argwhere(bad)[0][0])
            return (f"feature file {path} holds NaN/inf values (first at row {row}); "
                    "re-extract it with prepare")
    return None


def check_split(build, root: Path, split: str, config: Mapping) -> dict:
    """Build the split tolerating missing files, then open every present file (header, shape
    and values)."""
    ds = build(Path(root), split, {**config, "allow_missing": True, "check_shapes": False},
               train=False)
    feature_dir = Path(ds.feature_paths[0]).parent if ds.feature_paths else None
    missing = [str(feature_dir / f"{vid}.npy") if feature_dir else vid for vid in ds.missing_ids]
    unreadable = []
    for path in ds.feature_paths:
        try:
            shape, _ = npy_shape(Path(path))
            check_feature_shape(Path(path), shape, ds.tokens, ds.feature_dim)
            why = non_finite(Path(path), ds.tokens, ds.feature_dim)
            if why:
                raise UserError(why)
        except UserError as e:
            unreadable.append([str(path), str(e)])
    total = len(ds.feature_paths) + len(missing)
    usable = len(ds.feature_paths) - len(unreadable)
    return {"total": total, "usable": usable, "missing": missing, "unreadable": unreadable,
            "usable_share": usable / total if total else 0.0}
