"""Throughput measurement returns sane, described numbers; no timing assertions here."""

import torch
from torch import nn

from reproducers.harness.throughput import measure_throughput

KEYS = {"clips_per_s", "ms_per_batch_mean", "ms_per_batch_std", "peak_memory_bytes", "device",
        "device_name", "dtype", "autocast", "batch_size", "torch_version", "cpu_threads",
        "warmup", "iters"}
TRAIN_KEYS = {"train_clips_per_s", "train_ms_per_step_mean", "train_ms_per_step_std",
              "train_peak_memory_bytes"}


def _model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 2))


def test_forward_on_cpu():
    result = measure_throughput(_model(), torch.randn(3, 3, 8, 8), device="cpu", warmup=1, iters=2)
    assert KEYS <= set(result) and not TRAIN_KEYS & set(result)
    assert result["clips_per_s"] > 0 and result["ms_per_batch_mean"] > 0
    assert result["batch_size"] == 3 and result["dtype"] == "float32"
    assert result["peak_memory_bytes"] is None and result["cpu_threads"] >= 1
    assert result["device"] == "cpu" and result["device_name"]


def test_train_step_leaves_model_unchanged():
    model = _model().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = measure_throughput(model, (torch.randn(2, 3, 8, 8),), device="cpu", warmup=1,
                                iters=2, train_step=True)
    assert KEYS | TRAIN_KEYS <= set(result) and result["train_clips_per_s"] > 0
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_bf16_uses_autocast():
    result = measure_throughput(_model(), torch.randn(1, 3, 8, 8), device="cpu", dtype="bf16",
                                warmup=1, iters=1)
    assert result["autocast"] and result["dtype"] == "bfloat16" and result["clips_per_s"] > 0
