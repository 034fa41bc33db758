"""SVM's datasets as the official code lays them out under ``--data-root`` (its ``data/``).

- training (``half-train``): the mix of svm_base.py, ``clip_data.official_sources``:
  ``MOTSynth/all_cocoformat.json`` + ``MOTSynth/train/<seq>/img1``,
  ``MOT17/annotations/half-train_cocoformat.json`` + ``MOT17/train``,
  ``crowdhuman/annotations/crowdhuman_{train,val}.json`` + ``crowdhuman/{train,val}``;
  the jsons come from ``python -m reproducers mot-convert`` (the official converters);
- evaluation (``half-val``): every MOT17 training sequence folder ``MOT17/train/<seq>``
  (seqinfo.ini, img1/, gt/gt_half-val.txt written by ``mot-convert mot17``), frames
  n//2+2 .. n (``mot_half_frame_range``); results are scored by TrackEval against
  ``gt/gt_half-val.txt``.

``config["sources"]`` picks training sources by name (default: all four, as official);
the smoke run uses ``["mot17_half_train"]`` on synthetic MOT17-format sequences.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from reproducers.common.mot.motchallenge import read_seqinfo
from reproducers.harness.errors import UserError

from .clip_data import (
    MixedClipDataset,
    MotSequenceFrames,
    mot_half_frame_range,
    official_sources,
)
from .extra import require
from .seq_transforms import (
    SeqCompose,
    SeqFilterAnnotations,
    SeqNormalize,
    SeqPad,
    SeqRandomFlip,
    SeqResize,
    build_train_pipeline,
)

# Official sizes (svm.md, Data formats): MOT17's 21 train folders (7 sequences x 3 detector
# copies); MOTSynth's size is unverified, so the training mix has no expected count.
COUNTS = {"half-val": 7_956, "half-train": 7_992}
CONVERT_HINT = ("write it with `python -m reproducers mot-convert mot17 --input {root}/MOT17 "
                "--output {root}/MOT17/annotations` (likewise crowdhuman, motsynth; "
                "reproducers/svm/DATA.md)")


class SeededClips(Dataset):
    """``MixedClipDataset`` whose per-item generator comes from the trainer's
    ``SeededSamples`` (seed, epoch, index), so clips do not depend on workers or resumes."""

    def __init__(self, mixed: MixedClipDataset, sizes: dict[str, int]):
        self.mixed, self.sizes, self._seed = mixed, sizes, 0

    def reseed(self, seed: int) -> None:
        self._seed = int(seed)

    def set_epoch(self, epoch: int) -> None:
        """MOTSynth's 10% start frames are re-drawn per epoch when the data config says
        ``motsynth_resample: per_epoch`` (called by the trainer's loader in every worker)."""
        self.mixed.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.mixed)

    def __getitem__(self, index: int):
        rng = np.random.default_rng(self._seed)
        clip = self.mixed.load_clip(int(index), rng)
        return self.mixed.pipeline(clip, rng, self.mixed)


def light_pipeline(img_scale) -> SeqCompose:
    """Flip, resize, normalise, pad, filter: the official pipeline without mosaic, affine,
    mixup and HSV (what YOLOX's no-augmentation last epochs use); an option for short runs."""
    return SeqCompose([SeqRandomFlip(0.5), SeqResize(tuple(img_scale)), SeqNormalize(),
                       SeqPad(32), SeqFilterAnnotations()])


def build_train(root: Path, config: dict) -> SeededClips:
    img_scale = tuple(config.get("img_scale", (800, 1440)))
    specs = official_sources(root)
    wanted = config.get("sources")
    if wanted:
        unknown = set(wanted) - {s.name for s in specs}
        if unknown:
            raise UserError(f"data.sources: unknown {sorted(unknown)}; choose from "
                            f"{[s.name for s in specs]}")
        specs = [s for s in specs if s.name in wanted]
    for s in specs:
        if not s.ann_file.is_file():
            raise UserError(f"{s.ann_file}: training annotations not found; "
                            + CONVERT_HINT.format(root=root))
        if not s.img_prefix.is_dir():
            raise UserError(f"{s.img_prefix}: image folder of {s.name} not found "
                            f"(layout: reproducers/svm/DATA.md)")
    pipeline = (light_pipeline(img_scale) if config.get("pipeline") == "light"
                else build_train_pipeline(img_scale))
    mixed = MixedClipDataset.from_sources(
        specs, num_frames=int(config.get("num_frames", 2)), img_scale=img_scale,
        pipeline=pipeline, seed=int(config.get("seed", 0)),
        resample=config.get("motsynth_resample", "once"))
    sizes = {src.name: len(src) for src in mixed.sources}
    return SeededClips(mixed, sizes)


@dataclass(frozen=True)
class EvalSequence:
    name: str
    folder: Path
    frame_range: tuple[int, int]
    gt_file: str


class MotEvalSet:
    """The half-val sequences: one ``MotSequenceFrames`` per sequence on demand."""

    def __init__(self, gt_root: Path, sequences: list[EvalSequence], img_scale,
                 official_counts: bool = True):
        self.gt_root, self.sequences, self.img_scale = gt_root, sequences, tuple(img_scale)
        self.official_counts = official_counts

    def __len__(self) -> int:  # frames
        return sum(s.frame_range[1] - s.frame_range[0] + 1 for s in self.sequences)

    def frames(self, seq: EvalSequence) -> MotSequenceFrames:
        return MotSequenceFrames(seq.folder, self.img_scale, frame_range=seq.frame_range)


def build_eval(root: Path, config: dict) -> MotEvalSet:
    seq_root = root / "MOT17" / "train"
    half = config.get("eval_half", "val")
    gt_file = f"gt/gt_half-{half}.txt" if half else "gt/gt.txt"
    if not seq_root.is_dir():
        raise UserError(f"{seq_root}: MOT17 training sequences not found (layout: "
                        "reproducers/svm/DATA.md)")
    folders = sorted(p for p in seq_root.iterdir() if (p / "seqinfo.ini").is_file())
    if not folders:
        raise UserError(f"{seq_root}: no sequence folder with a seqinfo.ini")
    seqs = []
    for folder in folders:
        if not (folder / gt_file).is_file():
            raise UserError(f"{folder / gt_file}: not found; " + CONVERT_HINT.format(root=root))
        info = read_seqinfo(folder / "seqinfo.ini")
        rng = mot_half_frame_range(info.seq_length, half) if half else (1, info.seq_length)
        seqs.append(EvalSequence(folder.name, folder, rng, gt_file))
    return MotEvalSet(seq_root, seqs, config.get("img_scale", (800, 1440)),
                      official_counts=config.get("official_counts", True))


def build(root, split: str, config: dict, train: bool = False, protocol=None):
    require()  # the svm extra (OpenCV decodes, mmdet trains), or one line saying how
    root = Path(root)
    return build_train(root, config) if train else build_eval(root, config)


def fingerprint(dataset) -> dict:
    if isinstance(dataset, MotEvalSet):
        ids = [f"{s.name}:{s.frame_range[0]}-{s.frame_range[1]}" for s in dataset.sequences]
        expected = COUNTS["half-val"] if dataset.official_counts else None
        return {"found": len(dataset), "expected": expected, "missing": [],
                "sequences": len(ids),
                "id_hash": hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]}
    names = [(src.name, len(src)) for src in dataset.mixed.sources]
    return {"found": len(dataset), "expected": None, "missing": [], "sources": dict(names),
            "id_hash": hashlib.sha256(json.dumps(names).encode()).hexdigest()[:16]}
