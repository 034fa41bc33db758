"""Dataset converters to the COCO-video json that the official SVM code trains and tests on.

Each converter reproduces one script of github.com/yuzhms/Streaming-Video-Model
``tools/convert_datasets/`` (``mot2coco.py`` and ``crowdhuman2coco.py`` are mmtracking's,
byte-identical; ``motsynth2coco.py`` is the repo's own), including the documented quirks
(see shared/papers/svm.md, "Data formats"). Same json structure, key order, id counters and
values; the json is written with ``json.dumps`` defaults, as ``mmcv.dump`` does. Differences,
all for determinism or error messages on bad input:

- sequence folders are taken in sorted order (the official ``os.listdir`` order is
  arbitrary, and video/image/annotation/instance ids follow it);
- malformed input raises ``UserError`` naming the file (and line) instead of an assertion
  or a traceback; ``gt.txt`` is validated with ``motchallenge.parse_mot_file``;
- ``mot2coco``: a missing ``test/`` folder is skipped (the official script crashes);
  ``--convert-det`` (``det.txt`` -> ``<subset>_detections.pkl``, unused by SVM) is not offered.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from ...harness.atomic import write_text_atomic
from ...harness.errors import UserError
from .motchallenge import parse_mot_file

# mot2coco.py: rows of these classes are dropped. Everything else (class 1 for valid MOT17
# files) is kept, whatever its conf flag and visibility.
USELESS = (3, 4, 5, 6, 9, 10, 11)
IGNORES = (2, 7, 8, 12, 13)
SEQINFO_KEYS = ("name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight")
PEDESTRIAN = {"id": 1, "name": "pedestrian"}


def _noop(_msg: str) -> None:
    pass


def _dump(path: Path, data) -> Path:
    return write_text_atomic(path, json.dumps(data))


def half_split(num_imgs: int) -> int:
    """``mot2coco.py``: half-train = the first ``num_imgs // 2 + 1`` images, half-val = the rest
    (600 frames -> 1..301 / 302..600)."""
    return num_imgs // 2 + 1


def read_seqinfo_by_position(path: Path, folder_name: str) -> dict:
    """``seqinfo.ini`` as ``mot2coco.py`` reads it: lines 2..7 by position (``[Sequence]``,
    name, imDir, frameRate, seqLength, imWidth, imHeight), value after the first ``=``;
    asserts name == folder name. A key out of place is an error here (the official script
    would silently read the wrong value)."""
    try:
        lines = [ln.rstrip("\n\r") for ln in Path(path).open(encoding="utf-8")]
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; each sequence folder needs seqinfo.ini") from None
    values = {}
    for i, key in enumerate(SEQINFO_KEYS, start=1):
        line = lines[i].strip() if i < len(lines) else ""
        k, sep, v = line.partition("=")
        if not sep or k.strip() != key:
            raise UserError(
                f"{path}:{i + 1}: expected '{key}=...'; mot2coco reads seqinfo.ini by line "
                f"position ([Sequence], {', '.join(SEQINFO_KEYS)}), got {line!r}")
        values[key] = v.split("=")[0]
    for key in ("frameRate", "seqLength", "imWidth", "imHeight"):
        try:
            values[key] = int(values[key])
        except ValueError:
            raise UserError(f"{path}: {key}={values[key]!r} is not an integer") from None
    if values["name"] != folder_name:
        raise UserError(f"{path}: name={values['name']} differs from its folder name "
                        f"{folder_name}; mot2coco requires them equal")
    return values


def _gt_annotations(gt_path: Path, num_imgs: int, is_mot15: bool) -> dict[int, list[dict]]:
    """``mot2coco.parse_gts``: frame -> annotation dicts (without ids), file order."""
    table = parse_mot_file(gt_path, "gt", seq_length=num_imgs, check_classes=not is_mot15)
    out: dict[int, list[dict]] = defaultdict(list)
    for toks in table.tokens:
        frame_id, ins_id = int(float(toks[0])), int(float(toks[1]))
        bbox = [float(t) for t in toks[2:6]]
        if is_mot15:
            conf, class_id, visibility = 1.0, 1, 1.0
        else:
            conf, class_id = float(toks[6]), int(float(toks[7]))
            visibility = float(toks[8]) if len(toks) > 8 else -1.0
        if class_id in USELESS or class_id in IGNORES:
            continue
        out[frame_id].append({
            "category_id": 1, "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": False,
            "visibility": visibility, "mot_instance_id": ins_id, "mot_conf": conf,
            "mot_class_id": class_id})
    return out


def convert_mot17(input_dir: Path, output_dir: Path, *, split_train: bool = True,
                  log: Callable[[str], None] = _noop) -> dict:
    """``mot2coco.py -i input_dir -o output_dir --split-train``.

    Subsets in order ``train``, ``test`` (when ``input_dir/test`` exists), ``half-train``,
    ``half-val`` (the halves of ``train``). Every folder of ``train/`` or ``test/`` is used:
    no FRCNN filter, so MOT17's DPM/FRCNN/SDP copies all go in. Writes
    ``output_dir/<subset>_cocoformat.json`` and, for the halves, ``gt/gt_<subset>.txt`` into
    each *input* sequence folder: the raw gt.txt lines (all classes, original frame numbers)
    whose frame is in that half. Video, image and annotation ids count on across subsets;
    ``instance_id`` restarts at 0 for each subset (per-video maps from MOT ids, in order of
    first appearance). ``test`` has no ``annotations`` key (as the official json). A folder
    path containing ``MOT15`` is read as MOT15 ground truth (conf 1, class 1, visibility 1).

    Returns ``{subset: {"file", "videos", "images", "annotations", "instances"}}``."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not (input_dir / "train").is_dir():
        raise UserError(f"--input {input_dir}: no train/ folder of MOT sequences "
                        "(expected <input>/train/<SEQ>/{seqinfo.ini,img1/,gt/gt.txt})")
    subsets = ["train", "test"] + (["half-train", "half-val"] if split_train else [])
    vid_id = img_id = ann_id = 1
    summary = {}
    for subset in subsets:
        folder = input_dir / ("train" if "half" in subset else subset)
        if not folder.is_dir():
            log(f"{folder}: absent, no {subset} subset")
            continue
        parse_gt = "test" not in subset
        ins_id = 0
        outputs: dict = defaultdict(list)
        outputs["categories"] = [dict(PEDESTRIAN)]
        names = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if not names:
            raise UserError(f"{folder}: no sequence folders")
        for name in names:
            seq_dir = folder / name
            info = read_seqinfo_by_position(seq_dir / "seqinfo.ini", name)
            img_folder = info["imDir"]
            img_dir = seq_dir / img_folder
            if not img_dir.is_dir():
                raise UserError(f"{img_dir}: no image folder (imDir={img_folder} in seqinfo.ini)")
            img_names = sorted(os.listdir(img_dir))
            num_imgs = info["seqLength"]
            if num_imgs != len(img_names):
                raise UserError(f"{seq_dir / 'seqinfo.ini'}: seqLength={num_imgs} but {img_dir} "
                                f"holds {len(img_names)} files; mot2coco requires them equal")
            frame_numbers = {}
            for img in img_names:
                try:
                    frame_numbers[img] = int(img.split(".")[0])
                except ValueError:
                    raise UserError(f"{img_dir / img}: image names must be frame numbers "
                                    "(000001.jpg); remove other files") from None
            video = {"id": vid_id, "name": name, "fps": info["frameRate"],
                     "width": info["imWidth"], "height": info["imHeight"]}
            ins_maps: dict[int, int] = {}  # MOT id -> instance_id, per video
            if parse_gt:
                gt_path = seq_dir / "gt" / "gt.txt"
                img2gts = _gt_annotations(gt_path, num_imgs, "MOT15" in str(seq_dir))
            if "half" in subset:
                split = half_split(num_imgs)
                img_names = img_names[:split] if subset == "half-train" else img_names[split:]
                keep = {str(frame_numbers[n]) for n in img_names}
                raw = [ln.rstrip("\n\r") for ln in gt_path.open(encoding="utf-8")]
                write_text_atomic(seq_dir / "gt" / f"gt_{subset}.txt",
                                  "".join(f"{ln}\n" for ln in raw if ln.split(",")[0] in keep))
            for frame_id, img in enumerate(img_names):
                mot_frame_id = frame_numbers[img]
                image = {"id": img_id, "video_id": vid_id, "file_name": f"{name}/{img_folder}/{img}",
                         "height": info["imHeight"], "width": info["imWidth"],
                         "frame_id": frame_id, "mot_frame_id": mot_frame_id}
                if parse_gt:
                    for gt in img2gts.get(mot_frame_id, []):
                        ann = dict(gt, id=ann_id, image_id=img_id)
                        if gt["mot_instance_id"] not in ins_maps:
                            ins_maps[gt["mot_instance_id"]] = ins_id
                            ins_id += 1
                        ann["instance_id"] = ins_maps[gt["mot_instance_id"]]
                        outputs["annotations"].append(ann)
                        ann_id += 1
                outputs["images"].append(image)
                img_id += 1
            outputs["videos"].append(video)
            vid_id += 1
            outputs["num_instances"] = ins_id
        out_file = _dump(output_dir / f"{subset}_cocoformat.json", outputs)
        log(f"{subset}: {len(outputs['videos'])} videos, {len(outputs['images'])} images, "
            f"{len(outputs.get('annotations', []))} boxes, {ins_id} instances -> {out_file}")
        summary[subset] = {"file": str(out_file), "videos": len(outputs["videos"]),
                           "images": len(outputs["images"]),
                           "annotations": len(outputs.get("annotations", [])),
                           "instances": ins_id}
    return summary


def convert_crowdhuman(input_dir: Path, output_dir: Path, *, modes=("train", "val"),
                       log: Callable[[str], None] = _noop) -> dict:
    """``crowdhuman2coco.py -i input_dir -o output_dir``.

    Reads ``input_dir/annotation_<mode>.odgt`` (one json per line: ``ID``, ``gtboxes``) and
    the image size (PIL) of ``input_dir/<mode>/Images/<ID>.jpg``. Writes
    ``output_dir/crowdhuman_<mode>.json``: images ``{file_name 'Images/<ID>.jpg', height,
    width, id}``, annotations ``{id, image_id, category_id 1, vis_bbox = vbox, bbox = fbox
    (full body, may leave the image), area, iscrowd = extra.ignore == 1}``; no videos. Image
    and annotation ids start at 1 in each file."""
    from PIL import Image

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    summary = {}
    for mode in modes:
        odgt = input_dir / f"annotation_{mode}.odgt"
        if not odgt.is_file():
            raise UserError(f"{odgt}: no such file; --input must hold annotation_{{train,val}}"
                            ".odgt and {train,val}/Images/")
        img_id = ann_id = 1
        outputs: dict = defaultdict(list)
        outputs["categories"] = [dict(PEDESTRIAN)]
        for lineno, line in enumerate(odgt.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                info = json.loads(line)
                image_name = f"Images/{info['ID']}.jpg"
                boxes = info["gtboxes"]
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(f"{odgt}:{lineno}: not an odgt record with ID and gtboxes "
                                f"({exc.__class__.__name__}: {exc})") from None
            img_path = input_dir / mode / image_name
            try:
                with Image.open(img_path) as im:
                    width, height = im.size[:2]
            except FileNotFoundError:
                raise UserError(f"{img_path}: image of {odgt}:{lineno} is missing") from None
            except OSError as exc:
                raise UserError(f"{img_path}: unreadable image ({exc})") from None
            outputs["images"].append({"file_name": image_name, "height": height,
                                      "width": width, "id": img_id})
            for box in boxes:
                try:
                    bbox = box["fbox"]
                    extra = box.get("extra", {})
                    ann = {"id": ann_id, "image_id": img_id, "category_id": 1,
                           "vis_bbox": box["vbox"], "bbox": bbox, "area": bbox[2] * bbox[3],
                           "iscrowd": "ignore" in extra and extra["ignore"] == 1}
                except (KeyError, TypeError, IndexError, AttributeError) as exc:
                    raise UserError(f"{odgt}:{lineno}: a gtboxes entry lacks fbox/vbox "
                                    f"({exc.__class__.__name__}: {exc})") from None
                outputs["annotations"].append(ann)
                ann_id += 1
            img_id += 1
        out_file = _dump(output_dir / f"crowdhuman_{mode}.json", outputs)
        log(f"crowdhuman {mode}: {img_id - 1} images, {ann_id - 1} boxes -> {out_file}")
        summary[mode] = {"file": str(out_file), "images": img_id - 1, "annotations": ann_id - 1}
    return summary


def convert_motsynth(anns_dir: Path, out_file: Path, *,
                     log: Callable[[str], None] = _noop) -> dict:
    """``motsynth2coco.py --anns anns_dir --out out_file``.

    One COCO-like json per sequence in ``anns_dir`` (every file, sorted by the integer before
    the first dot of its name). Videos ``{id, name, fps 20, height 1080, width 1920}``
    (hard-coded), images ``{file_name '<name>/img1/<frame_n:06>.jpg', height, width, id,
    frame_id = frame_n - 1, video_id}``, annotations ``{category_id 1, bbox, area, iscrowd,
    id, image_id, instance_id = ped_id}`` (MOTSynth pedestrian ids, not remapped).
    ``num_instances`` holds the last annotation id + 1, i.e. the annotation count + 1 (an
    official bug; nothing reads it)."""
    anns_dir, out_file = Path(anns_dir), Path(out_file)
    if not anns_dir.is_dir():
        raise UserError(f"--input {anns_dir}: not a directory of per-sequence MOTSynth jsons")
    files = [p for p in anns_dir.iterdir() if p.is_file()]
    keyed = []
    for p in files:
        try:
            keyed.append((int(p.name.split(".")[0]), p))
        except ValueError:
            raise UserError(f"{p}: MOTSynth annotation files are named <number>.json; "
                            "remove other files") from None
    if not keyed:
        raise UserError(f"--input {anns_dir}: no annotation files")
    keyed.sort(key=lambda kp: kp[0])
    outputs: dict = defaultdict(list)
    outputs["categories"] = [dict(PEDESTRIAN)]
    vid_id = img_id = ann_id = 1
    for _key, path in keyed:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{path}: not valid json ({exc})") from None
        name = path.name.split(".")[0]
        outputs["videos"].append({"id": vid_id, "name": name, "fps": 20, "height": 1080,
                                  "width": 1920})
        local2global = {}
        try:
            for img in data["images"]:
                local2global[img["id"]] = img_id
                outputs["images"].append({
                    "file_name": f"{name}/img1/{img['frame_n']:06}.jpg",
                    "height": img["height"], "width": img["width"], "id": img_id,
                    "frame_id": img["frame_n"] - 1, "video_id": vid_id})
                img_id += 1
            for ann in data["annotations"]:
                bbox = ann["bbox"]
                outputs["annotations"].append({
                    "category_id": 1, "bbox": bbox, "area": bbox[2] * bbox[3],
                    "iscrowd": bool(ann["iscrowd"]), "id": ann_id,
                    "image_id": local2global[ann["image_id"]], "instance_id": ann["ped_id"]})
                ann_id += 1
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise UserError(f"{path}: not a MOTSynth sequence json (images[].id/frame_n/height/"
                            f"width, annotations[].bbox/iscrowd/image_id/ped_id): "
                            f"{exc.__class__.__name__}: {exc}") from None
        vid_id += 1
    outputs["num_instances"] = ann_id
    _dump(out_file, outputs)
    log(f"motsynth: {vid_id - 1} videos, {img_id - 1} images, {ann_id - 1} boxes -> {out_file}")
    return {"file": str(out_file), "videos": vid_id - 1, "images": img_id - 1,
            "annotations": ann_id - 1}


CONVERTERS = ("mot17", "crowdhuman", "motsynth")


def convert_dataset(dataset: str, input_dir: Path, output_dir: Path, *,
                    log: Callable[[str], None] = _noop) -> dict:
    """The ``mot-convert`` CLI: ``output_dir`` receives the json file(s)
    (MOTSynth: ``output_dir/all_cocoformat.json``)."""
    if dataset == "mot17":
        return convert_mot17(input_dir, output_dir, log=log)
    if dataset == "crowdhuman":
        return convert_crowdhuman(input_dir, output_dir, log=log)
    if dataset == "motsynth":
        return convert_motsynth(input_dir, Path(output_dir) / "all_cocoformat.json", log=log)
    raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(CONVERTERS)}")
