"""Synthetic MOT17-format data for the smoke run, read by the real loaders and converters.

``<root>/MOT17/train/SYN-NN/{seqinfo.ini, img1/%06d.jpg, gt/gt.txt}`` with moving, occluding
pedestrians (``common.mot.synthetic``), then the official MOT17 conversion
(``common.mot.convert.convert_mot17``: half-train / half-val COCO-video jsons and
``gt/gt_half-{train,val}.txt``), exactly as a real MOT17 folder is prepared.
"""

from __future__ import annotations

from pathlib import Path

from reproducers.common.mot.convert import convert_mot17
from reproducers.common.mot.synthetic import write_synthetic_mot

from .extra import require

KEYS = ("num_seqs", "frames", "width", "height", "num_pedestrians")


def synthesize(root, config, seed: int) -> dict:
    require()  # a smoke run without the svm extra stops here, before writing anything
    root = Path(root)
    seqs = write_synthetic_mot(root / "MOT17", seed=seed, split="train",
                               **{k: config[k] for k in KEYS if k in config})
    out = convert_mot17(root / "MOT17", root / "MOT17" / "annotations", split_train=True)
    return {"sequences": [p.name for p in seqs], "converted": out}
