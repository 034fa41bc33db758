"""The STRG datasets for the harness: splits parsed by the format readers, clips with boxes.

Something-Something v1 is read by ``common.video.ssv1`` (20BN csv + ``%05d.jpg`` folders);
Charades by ``charades.py``. Box stores are ``<root>/proposals/<split>.pt`` (written by the
prepare stage, ``proposals.prepare_store``); the I3D baselines read none.
"""

from __future__ import annotations

from pathlib import Path

from reproducers.common.video import ssv1
from reproducers.common.video.formats import id_hash
from reproducers.harness.errors import UserError
from reproducers.harness.knobs import option

from . import charades
from .box_store import BoxStore
from .clips import STRGClips
from .synthetic import write_charades_with_boxes, write_ssv1_with_boxes


def box_store_path(root: Path, split: str) -> Path:
    return Path(root) / "proposals" / f"{split}.pt"


def build(root, split: str, config: dict, train: bool = False, protocol=None) -> STRGClips:
    """``split`` of the declared layout; an evaluation set scores ``protocol.temporal_clips``
    clips of the full frame per video (one spatial view: the network is fully convolutional)."""
    clips = 1
    if not train:
        if protocol is None:
            raise ValueError("an STRG evaluation set takes its test clips from the run's "
                             "protocol: pass protocol= (the reproduction's Protocol)")
        if protocol.spatial_crops != 1:
            raise UserError(f"protocol spatial_crops={protocol.spatial_crops}: STRG scores one "
                            f"spatial view per clip (use test_crop for a centre crop)")
        clips = protocol.temporal_clips
    layout = config.get("layout", "ssv1")
    if layout == "ssv1":
        index = ssv1.build_split(Path(root), split)
    elif layout == "charades":
        index = charades.build_split(Path(root), split)
    else:
        raise UserError(f"data.layout {layout!r}: 'ssv1' or 'charades'")
    if not index.samples:
        raise UserError(f"{root}: no {split} videos found ({len(index.missing_ids)} listed "
                        f"but missing, e.g. {index.missing_paths[:1]})")
    store = BoxStore.load(box_store_path(root, split)) if config.get("boxes", True) else None
    dataset = STRGClips(index.samples, config, train=train, store=store, clips=clips)
    dataset.index = index
    return dataset


def for_recipe(config: dict, options) -> dict:
    """The data config a run's options imply: ``proposals=online`` (jd730's per-iteration
    RPN, ``online.py``) reads no box store, so the clips ship no boxes and the config says
    why (``proposals``, with the RPN file: the evaluate record's inputs hold the data config,
    not the recipe); the I3D baselines (``boxes`` false) and the store are unchanged."""
    if option(options, "proposals", "store") != "online" or not config.get("boxes", True):
        return config
    return {**config, "boxes": False, "proposals": "online",
            "rpn_weights": option(options, "rpn_weights")}


def fingerprint(dataset: STRGClips) -> dict:
    index = dataset.index
    out = {"found": len(index.samples), "expected": index.expected,
           "missing": index.missing_ids[:20], "id_hash": id_hash(index.ids)}
    if dataset.store is not None:
        out["boxes"] = dataset.store.stats()
    return out


def synthesize(root, config: dict, seed: int) -> None:
    keys = ("n_per_class", "n_val_per_class", "frames_per_video", "size", "boxes_per_frame")
    kwargs = {k: config[k] for k in keys if k in config}
    if "frames_per_video" in kwargs:
        kwargs["frames"] = kwargs.pop("frames_per_video")
    write = write_charades_with_boxes if config.get("layout") == "charades" \
        else write_ssv1_with_boxes
    write(root, seed=seed, **kwargs)


def prepare(videos_dir, data_root, config: dict, weights, device: str, log=print) -> dict:
    """The offline proposals: the COCO RPN (``weights``: torchvision's Faster R-CNN R50-FPN
    file) on every ``box_step``-th frame of every video of the train and evaluation splits
    found under ``videos_dir`` (the dataset root), written to ``<data_root>/proposals/``."""
    from reproducers.common.video.decode import read_frames, video_info

    from .proposals import ProposalNetwork, prepare_store

    if weights is None:
        raise UserError("--weights is required: torchvision's COCO fasterrcnn_resnet50_fpn "
                        "state dict (e.g. fasterrcnn_resnet50_fpn_coco-258fb6c6.pth)")
    layout = config.get("layout", "ssv1")
    splits = ("train", "validation") if layout == "ssv1" else ("train", "test")
    network = ProposalNetwork(config.get("boxes_per_frame", 10),
                              min_size=config.get("rpn_min_size", 800))
    network.load_coco(weights)
    out = {}
    for split in splits:
        index = (ssv1.build_split(Path(videos_dir), split) if layout == "ssv1"
                 else charades.build_split(Path(videos_dir), split))

        def videos(samples=index.samples):
            for s in samples:
                n = int(video_info(s.path, **s.read_kwargs)["num_frames"])
                yield s.video_id, n, (lambda idx, s=s: read_frames(s.path, idx,
                                                                   **s.read_kwargs))
        store, stats = prepare_store(videos(), network, frame_step=config.get("box_step", 2),
                                     batch_size=config.get("rpn_batch", 8), device=device,
                                     log=log)
        store.save(box_store_path(data_root, split))
        out[split] = {**stats, "missing_videos": len(index.missing_ids)}
        log(f"{split}: {stats['videos']} videos, {stats['frames']} frames, "
            f"{stats['frames_per_s']:.2f} frames/s -> {box_store_path(data_root, split)}")
    return out
