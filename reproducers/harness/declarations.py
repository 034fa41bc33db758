"""Typed declarations a paper folder uses to describe its reproductions.

A paper's ``__init__.py`` exposes ``REPRODUCTIONS: list[Reproduction]``; the registry
discovers it (see ``registry.py``). Everything the harness needs to build, train, evaluate,
profile and check a reproduction is a field here, so the harness never imports a paper by
name and adding a paper never edits the harness.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Direction = Literal["higher", "lower"]
RowKind = Literal["paper", "official-repo", "derived", "smoke"]


@dataclass(frozen=True)
class Paper:
    key: str  # folder name, e.g. "vis4mer"
    title: str
    venue: str
    arxiv: str
    code_url: str
    code_commit: str


@dataclass(frozen=True)
class DatasetSpec:
    """What data a reproduction reads and how the user points at it.

    ``build(root, split, config)`` returns a torch Dataset reading the real on-disk format
    under ``root``; it raises ``harness.errors.UserError`` naming the missing/malformed file.
    ``synthesize(root, config, seed)`` writes a small synthetic dataset in the same format
    (its task needs temporal order) for smoke runs.
    ``fingerprint(dataset)`` returns {"found": int, "expected": int|None, "missing": [...],
    "id_hash": str} for provenance.
    """

    name: str
    train_split: str
    eval_split: str
    expected_samples: Mapping[str, int]  # split -> official sample count (videos)
    format: str  # one line: the on-disk layout under --data-root
    data_root_help: str  # how to obtain/prepare it (README anchor or command)
    build: Callable[..., Any]
    synthesize: Callable[..., Any]
    fingerprint: Callable[[Any], dict]
    # prepare(videos_dir, data_root, config, weights, device, log) -> None: builds the on-disk
    # format (e.g. extracts features) from videos the user has. None: nothing to prepare.
    prepare: Callable[..., Any] | None = None
    # check(root, split, config) -> {"total", "usable", "missing": [paths],
    # "unreadable": [[path, reason]], "usable_share"}: used by `data check`, no training.
    check: Callable[..., dict] | None = None
    sample_unit: str = "videos"  # what expected_samples and eval sizes count


@dataclass(frozen=True)
class ModelSpec:
    """A factory building the exact official architecture (official parameter names).

    ``factory(**full)`` is the paper-size model; ``factory(**smoke)`` the reduced one.
    ``example_input(config, batch)`` returns the input tensor(s) of one view at the declared
    full input size, used by profile, FLOPs and benchmarks.
    """

    name: str
    factory: Callable[..., Any]
    full: Mapping[str, Any]
    smoke: Mapping[str, Any]
    example_input: Callable[..., Any]
    official_num_params: int | None = None
    # adapt_state_dict(state) -> (state, notes): official checkpoint quirks (e.g. extra
    # tensors a test-time hook added) fixed before the strict load of ``evaluate``.
    adapt_state_dict: Callable[[dict], tuple[dict, list[str]]] | None = None


@dataclass(frozen=True)
class Recipe:
    optimizer: str  # e.g. "adamw"
    lr: float
    weight_decay: float
    epochs: int
    batch_size: int  # global batch
    gpus: int  # GPUs the paper declares
    lr_scaling: str  # e.g. "none (lr is independent of batch)" or "linear in global batch / 256"
    schedule: str  # e.g. "constant", "reduce-on-plateau", "cosine"
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)  # paper-specific knobs and quirks


@dataclass(frozen=True)
class Protocol:
    """Evaluation protocol; the same views feed the accuracy run and the FLOPs count."""

    input: str  # e.g. "64 segments x 49 tokens x 1024 features"
    temporal_clips: int
    spatial_crops: int
    aggregation: str  # e.g. "sum of softmax over 1-s spans per video"
    eval_split: str

    @property
    def views(self) -> int:
        return self.temporal_clips * self.spatial_crops


@dataclass(frozen=True)
class ExpectedRow:
    reproduction: str
    metric: str
    value: float
    direction: Direction
    tolerance: float | None  # None: derived from the eval-set size (binomial, floor 0.3)
    kind: RowKind
    source: str
    note: str = ""
    dataset: str = ""  # set when a reproduction's table spans datasets
    unavailable: str = ""  # why it can never run here (e.g. code never released)


@dataclass(frozen=True)
class Task:
    """How a reproduction trains and evaluates; implemented by the paper with common pieces.

    ``train(ctx)`` trains and returns {"checkpoint": Path, ...}; ``evaluate(ctx, model)``
    returns {"metrics": {metric: value}, "eval_size": int, ...}.
    """

    train: Callable[..., dict]
    evaluate: Callable[..., dict]


@dataclass(frozen=True)
class SelfTestHooks:
    """How the device self-test (``harness/selftest.py``) trains and evaluates this model as
    its paper does; every field is optional (None: the generic step from ``example_input``).

    ``train_steps(model, cfg, recipe, batch, device) -> [[loss_fn, ...], ...]``: one inner
    list per optimizer step, each ``loss_fn(model) -> scalar`` backpropagated into the same
    step (e.g. a video and a weighted image batch; or one step per frame of a clip).
    ``optimizer(model, recipe)``: the paper's optimizer.
    ``eval_batch(model, cfg, batch, views, device) -> (fn, clips)``: one evaluation batch of
    ``clips`` clips (``fn()`` runs it, no grad). ``reset(model)``: after each step sequence
    (clear a memory). ``batch_per_gpu``: the official per-GPU batch when the recipe's global
    batch / GPUs is not it. ``checks``: extra device checks
    ``{name: fn(device, smoke, log) -> figures}``. ``probe``: use this model for the
    torch.compile and distributed checks.
    """

    train_steps: Callable[..., list] | None = None
    optimizer: Callable[..., Any] | None = None
    eval_batch: Callable[..., Callable[[], Any]] | None = None
    reset: Callable[[Any], None] | None = None
    batch_per_gpu: int | None = None
    grad_scaler_init: float | None = None  # fp16 GradScaler's initial scale (None: torch's)
    checks: Mapping[str, Callable[..., dict]] = field(default_factory=dict)
    probe: bool = False


@dataclass(frozen=True)
class Reproduction:
    name: str
    paper: Paper
    dataset: DatasetSpec
    model: ModelSpec
    recipe: Recipe
    smoke_recipe: Recipe
    protocol: Protocol
    task: Task
    expected: Sequence[ExpectedRow]
    metrics: Sequence[str]
    description: str = ""
    smoke_data: Mapping[str, Any] = field(default_factory=dict)  # synthetic-data config
    data_config: Mapping[str, Any] = field(default_factory=dict)  # real-data loader config
    selftest: SelfTestHooks | None = None  # paper-specific steps of `selftest` (see above)
    # initial weights of the train stage: weights.InitFile / weights.InitFrom (another
    # reproduction's checkpoint) or None; resolved per run by harness/chain.py
    init: Any = None


@dataclass
class RunContext:
    """What a stage hands a paper's train/evaluate functions."""

    reproduction: Reproduction
    smoke: bool
    data_root: Path
    output_dir: Path
    device: str
    seed: int
    recipe: Recipe
    model_config: Mapping[str, Any]
    data_config: Mapping[str, Any]
    checkpoint: Path | None = None
    progress: bool = True
    log: Callable[[str], None] = print
    extras: dict = field(default_factory=dict)
