"""``data check`` for the ViS4mer feature datasets: which feature files of a split are missing
or unreadable (bad header, wrong shape), without training."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reproducers.harness.errors import UserError

from .data import check_feature_shape, npy_shape


def check_split(build, root: Path, split: str, config: Mapping) -> dict:
    """Build the split tolerating missing files, then open every present file's header."""
    ds = build(Path(root), split, {**config, "allow_missing": True, "check_shapes": False},
               train=False)
    feature_dir = Path(ds.feature_paths[0]).parent if ds.feature_paths else None
    missing = [str(feature_dir / f"{vid}.npy") if feature_dir else vid for vid in ds.missing_ids]
    unreadable = []
    for path in ds.feature_paths:
        try:
            shape, _ = npy_shape(Path(path))
            check_feature_shape(Path(path), shape, ds.tokens, ds.feature_dim)
        except UserError as e:
            unreadable.append([str(path), str(e)])
    total = len(ds.feature_paths) + len(missing)
    usable = len(ds.feature_paths) - len(unreadable)
    return {"total": total, "usable": usable, "missing": missing, "unreadable": unreadable,
            "usable_share": usable / total if total else 0.0}
