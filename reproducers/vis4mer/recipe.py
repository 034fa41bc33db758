"""ViS4mer's typed recipe options (every ``--set`` key beyond the generic recipe fields).

Official: run_lvu.py / run_breakfast.py / run_coin.py of md-mohaiminul/ViS4mer (AdamW with the
S4 tensors in their own group, ReduceLROnPlateau stepped with the selection metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reproducers.common.recipe import TrainerOptions
from reproducers.harness.knobs import knob


@dataclass(frozen=True)
class ViS4merOptions(TrainerOptions):
    OPTIMIZERS: ClassVar[tuple[str, ...]] = ("adamw",)
    # official: ReduceLROnPlateau(mode "min") stepped with the selection metric, i.e. with
    # accuracy for classification (the official quirk); plateau: mode follows the metric
    SCHEDULES: ClassVar[tuple[str, ...]] = ("official", "plateau", "constant")

    plateau_factor: float = knob(0.2, gt=0, lt=1)  # LR multiplier on a plateau
    plateau_patience: int = knob(1, ge=0)  # evaluations without improvement before a drop
    select_split: str | None = None  # split the schedule and selection read (None: eval split)
    drop_last: bool = False  # the official DataLoader keeps the short last batch

    def describe_optimizer(self, recipe) -> str:
        return f"{recipe.optimizer} (S4 log_dt/A/B: lr 1e-3, wd 0)"

    def describe_schedule(self, recipe) -> str:
        if recipe.schedule == "constant":
            return "constant"
        every = "every epoch" if self.eval_every in (None, 1) else \
            f"every {self.eval_every} epochs"
        split = self.select_split or "evaluation"
        mode = ("mode 'min' (official quirk: 'min' even on accuracy)"
                if recipe.schedule == "official" else "mode following the metric")
        text = (f"ReduceLROnPlateau(factor {self.plateau_factor:g}, patience "
                f"{self.plateau_patience}) in {mode}, stepped {every} with the {split} metric")
        if self.select == "best":
            text += f"; best {split} epoch kept"
        return text
