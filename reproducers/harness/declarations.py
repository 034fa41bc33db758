"""Typed declarations a paper folder uses to describe its reproductions.

A paper's ``__init__.py`` exposes ``REPRODUCTIONS: list[Reproduction]``; the registry
discovers it (see ``registry.py``). Everything the harness needs to build, train, evaluate,
profile and check a reproduction is a field here, so the harness never imports a paper by
name and adding a paper never edits the harness.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from .errors import UserError
from .knobs import check, knob

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
    # the pyproject optional-dependencies extra this paper's code needs ("": none); `nox -s
    # reproduce` installs it on demand, read from `list --json` (no paper named in noxfile.py)
    extra: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """What data a reproduction reads and how the user points at it.

    ``build(root, split, config, train, protocol)`` returns a torch Dataset reading the real
    on-disk format under ``root``; it raises ``harness.errors.UserError`` naming the
    missing/malformed file. An evaluation dataset (``train`` False) takes its views (test
    clips, crops) from ``protocol``, the run's ``Protocol``, never from ``config``.
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
    # keys the builder reads beyond the declared data config, with their defaults: together
    # with the declared config they are the valid ``--set data.NAME`` keys
    config_defaults: Mapping[str, Any] = field(default_factory=dict)
    # for_recipe(data config, recipe options) -> data config: what a recipe option implies
    # for the data (e.g. no stored boxes when the model computes them); None: unchanged
    for_recipe: Callable[[Mapping[str, Any], Any], dict] | None = None


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
class NoOptions:
    """A recipe without paper-specific knobs. A paper declares its own frozen dataclass of
    typed knobs (e.g. ``reproducers/vis4mer/recipe.py``); each field is a ``--set`` key.

    Optional class attributes: ``OPTIMIZERS`` / ``SCHEDULES`` (the names the paper's task
    builds; None: any), ``describe_optimizer(recipe)`` / ``describe_schedule(recipe)`` (the
    report's recipe text, rendered from the typed fields)."""

    OPTIMIZERS: ClassVar[tuple[str, ...] | None] = None
    SCHEDULES: ClassVar[tuple[str, ...] | None] = None


@dataclass(frozen=True)
class Recipe:
    optimizer: str  # the optimizer the task builds, one of options.OPTIMIZERS (e.g. "adamw")
    lr: float = knob(gt=0)  # base learning rate at ``batch_size``
    weight_decay: float = knob(ge=0)
    epochs: int = knob(ge=1)
    batch_size: int = knob(ge=1)  # global batch
    gpus: int = knob(ge=0)  # GPUs the paper declares (0: none declared)
    lr_scaling: str = knob()  # e.g. "none (lr is independent of batch)" or "linear: ..."
    schedule: str = knob()  # the LR schedule the task builds, one of options.SCHEDULES
    seed: int = knob(0, ge=0)
    # paper-specific typed knobs: a frozen dataclass (see NoOptions); a plain mapping is
    # accepted for small test papers (its keys and value types are then fixed by the mapping)
    options: Any = field(default_factory=NoOptions)

    def __post_init__(self):
        check(self, "recipe")
        for name, allowed in (("optimizer", getattr(self.options, "OPTIMIZERS", None)),
                              ("schedule", getattr(self.options, "SCHEDULES", None))):
            if allowed is not None and getattr(self, name) not in allowed:
                raise UserError(f"recipe {name}={getattr(self, name)!r}: expected one of "
                                f"{', '.join(allowed)}")
        if is_dataclass(self.options):
            check(self.options, "recipe option")

    @property
    def optimizer_text(self) -> str:
        """The optimizer as the report states it, rendered from the typed fields."""
        describe = getattr(self.options, "describe_optimizer", None)
        return describe(self) if describe is not None else self.optimizer

    @property
    def schedule_text(self) -> str:
        describe = getattr(self.options, "describe_schedule", None)
        return describe(self) if describe is not None else self.schedule

    def options_dict(self) -> dict:
        if is_dataclass(self.options):
            return {f.name: getattr(self.options, f.name) for f in fields(self.options)}
        return dict(self.options)


@dataclass(frozen=True)
class Protocol:
    """Evaluation protocol, the one source of its facts: the stages hand it to the paper's
    dataset builder (``DatasetSpec.build(..., protocol=)``, which makes ``temporal_clips x
    spatial_crops`` views of each evaluated video) and to its evaluate (``RunContext.protocol``),
    and the profile stage multiplies the FLOPs of one view by the same ``views``. Frames and
    crop size stay in the model/data config: training reads them too. ``--set
    protocol.NAME=V`` changes a typed field (overrides.PROTOCOL_FIELDS)."""

    input: str  # e.g. "64 segments x 49 tokens x 1024 features"
    temporal_clips: int = knob(ge=1)  # clips per evaluated video
    spatial_crops: int = knob(ge=1)  # crops per clip
    aggregation: str = knob()  # the report's text, e.g. "sum of softmax over 3 crops"
    eval_split: str = knob()
    pool: Literal["sum", "max"] = "sum"  # how the evaluate combines a video's view scores

    def __post_init__(self):
        check(self, "protocol")

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
class ClaimRow:
    """A paper's claim about two reproductions: ``a`` beats ``b`` on ``metric`` (by more than
    ``margin``, in the metric's units; "beats" follows the metric's direction), checked on the
    samples both runs scored with a one-sided paired test at level ``alpha``
    (harness/claims.py). Declared as ``[[claim]]`` in a paper's expected.toml."""

    a: str
    b: str
    metric: str
    kind: RowKind
    source: str
    margin: float = 0.0
    alpha: float = 0.05
    resamples: int = 10_000  # paired bootstrap resamples
    seed: int = 0  # bootstrap seed
    note: str = ""


@dataclass(frozen=True)
class Task:
    """How a reproduction trains and evaluates; implemented by the paper with common pieces.

    ``train(ctx)`` trains and returns {"checkpoint": Path, ...}; ``evaluate(ctx, model)``
    returns {"metrics": {metric: value}, "eval_size": int, ...}.
    """

    train: Callable[..., dict]
    evaluate: Callable[..., dict]
    # the evaluation itself draws at random (e.g. random test clips, seeded by ctx.seed):
    # `--seeds N` then trains once and repeats the evaluation alone (harness/seeds.py)
    random_evaluation: bool = False


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
    claims: Sequence[ClaimRow] = ()  # claims whose ``a`` is this reproduction
    # initial weights of the train stage: weights.InitFile / weights.InitFrom (another
    # reproduction's checkpoint) or None; resolved per run by harness/chain.py
    init: Any = None
    # the protocol of smoke runs when it differs from ``protocol`` (e.g. fewer test clips of
    # the short synthetic videos); None: ``protocol``. Same eval split.
    smoke_protocol: Protocol | None = None

    def __post_init__(self):
        if self.smoke_protocol is not None and \
                self.smoke_protocol.eval_split != self.protocol.eval_split:
            raise ValueError(f"{self.name}: smoke_protocol.eval_split "
                             f"{self.smoke_protocol.eval_split!r} differs from the protocol's "
                             f"{self.protocol.eval_split!r}")

    def protocol_for(self, smoke: bool) -> Protocol:
        """The protocol a (smoke) run evaluates with and counts FLOPs x views of."""
        return self.smoke_protocol if smoke and self.smoke_protocol is not None \
            else self.protocol


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
    # the run's evaluation protocol (None: ``reproduction.protocol_for(smoke)``); the paper's
    # evaluate reads views/clips from it, never from the data config
    protocol: Protocol | None = None

    def __post_init__(self):
        if self.protocol is None:
            self.protocol = self.reproduction.protocol_for(self.smoke)
