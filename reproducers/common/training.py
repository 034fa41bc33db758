"""A single-process epoch trainer shared by the papers.

It owns what every recipe needs: the epoch/batch loop with a progress bar, optional AMP and
gradient clipping, a per-epoch evaluation hook, a scheduler hook, model selection
("last" or "best" by a declared metric), a NaN/inf guard that stops the run and keeps the
last good checkpoint, a CSV history, and atomic checkpoints.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from reproducers.harness.errors import UserError

from .checkpoint import save_checkpoint


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or inf; the last good checkpoint is kept."""


@dataclass
class FitConfig:
    epochs: int
    device: str
    eval_every: int = 1
    grad_clip: float | None = None
    amp_dtype: torch.dtype | None = None
    select: str = "last"  # "last" or "best"
    select_metric: str | None = None
    select_higher: bool = True
    progress: bool = True


@dataclass
class FitResult:
    checkpoint: Path  # weights-only model state dict of the selected epoch
    last: Path
    history: list[dict]
    selected_epoch: int
    steps: int


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_loader,
    step_loss: Callable[[torch.nn.Module, object], torch.Tensor],
    cfg: FitConfig,
    out_dir: Path,
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    after_epoch: Callable[[int, dict], None] | None = None,
    log: Callable[[str], None] = print,
) -> FitResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to(cfg.device)
    history: list[dict] = []
    best_value, selected_epoch, steps = None, 0, 0
    best_path, last_path = out_dir / "model_best.pt", out_dir / "checkpoint_last.pt"
    model_path = out_dir / "model_last.pt"
    use_amp = cfg.amp_dtype is not None and cfg.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and cfg.amp_dtype == torch.float16)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        start, total, count = time.time(), 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress,
                   leave=False, dynamic_ncols=True)
        for batch in bar:
            with torch.autocast("cuda", dtype=cfg.amp_dtype or torch.float32, enabled=use_amp):
                loss = step_loss(model, batch)
            if not math.isfinite(loss.item()):
                raise NonFiniteLoss(
                    f"loss became {loss.item()} at epoch {epoch} step {steps}; stopped, "
                    f"last good checkpoint kept at {last_path}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            steps += 1
            total += loss.item()
            count += 1
            bar.set_postfix(loss=f"{total / count:.4f}")
        row = {"epoch": epoch, "train_loss": total / max(count, 1),
               "lr": optimizer.param_groups[0]["lr"], "time_s": round(time.time() - start, 2)}
        if evaluate is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            row.update(evaluate(model))
        history.append(row)
        if len(row) > 4 or epoch % max(1, cfg.epochs // 10) == 0 or epoch == 1:
            log("  " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in row.items()))
        if after_epoch is not None:
            after_epoch(epoch, row)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        save_checkpoint(model_path, state)
        save_checkpoint(last_path, {"model": state, "optimizer": optimizer.state_dict(),
                                    "epoch": epoch, "steps": steps})
        value = row.get(cfg.select_metric) if cfg.select_metric else None
        if cfg.select == "best" and value is not None:
            better = best_value is None or (value > best_value if cfg.select_higher
                                            else value < best_value)
            if better:
                best_value, selected_epoch = value, epoch
                save_checkpoint(best_path, state)
        _write_history(out_dir / "history.csv", history)
    if cfg.select == "best":
        if selected_epoch == 0:
            raise UserError(f"select=best needs metric {cfg.select_metric!r} from evaluate()")
        return FitResult(best_path, last_path, history, selected_epoch, steps)
    return FitResult(model_path, last_path, history, cfg.epochs, steps)


def _write_history(path: Path, history: list[dict]) -> None:
    from reproducers.harness.atomic import write_atomic

    keys = list(dict.fromkeys(k for row in history for k in row))

    def write(p: Path) -> None:
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(history)

    write_atomic(path, write)
