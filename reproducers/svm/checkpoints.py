"""The released SVM checkpoint as the model loads it.

mmcv 1.7 ``save_checkpoint`` writes {meta, state_dict[, optimizer]}; the state dict holds the
666 ``detector.*`` tensors (the EMA weights, swapped in by ``ExpMomentumEMAHook`` before
saving) and, in training checkpoints, one ``ema_<key with dots as underscores>`` buffer per
entry holding the raw weights. The official test loads non-strictly and ignores those
buffers; here they are dropped by name and counted in the record's notes. A ``module.``
prefix (DDP) is stripped as mmcv's loader does.
"""

from __future__ import annotations


def adapt_state_dict(state: dict) -> tuple[dict, list[str]]:
    notes = []
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
        notes.append("stripped the DDP 'module.' prefix")
    ema = [k for k in state if k.startswith("ema_")]
    if ema:
        state = {k: v for k, v in state.items() if not k.startswith("ema_")}
        notes.append(f"dropped {len(ema)} ExpMomentumEMAHook buffers (ema_*: the raw weights; "
                     "the detector.* tensors are the EMA weights the official test uses)")
    return state, notes
