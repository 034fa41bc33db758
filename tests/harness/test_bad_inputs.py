"""Invalid values are refused before any stage runs: through the CLI (``cli.main``), each case
exits 2 with ONE line on stderr and writes nothing (no record, no run folder)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from reproducers import cli
from reproducers.harness.provenance import REPO_ROOT

SMOKE = ["run", "vis4mer_breakfast", "--smoke"]


def _refused(argv, tmp_path, capsys, match: str) -> str:
    records, runs = tmp_path / "records", tmp_path / "runs"
    rc = cli.main([*argv, "--records-dir", str(records), "--output-dir", str(runs)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and match in lines[0], lines[0]
    assert not records.exists() and not runs.exists()  # refused before any stage
    return lines[0]


@pytest.mark.parametrize("pair, match", [
    ("no_such_key=1", "--set no_such_key: unknown key; valid keys: batch_size, epochs"),
    ("epoch=1", "--set epoch: unknown key; valid keys:"),  # the typo is not epochs
    ("options.nope=1", "--set options.nope: unknown key"),
    ("data.nope=1", "--set data.nope: the data config has no 'nope'"),
    ("model.nope=1", "--set model.nope: the model config has no 'nope'"),
    ("epochs=abc", "--set epochs=abc: expected an integer >= 1"),
    ("epochs=-1", "--set epochs=-1: expected an integer >= 1"),
    ("lr=0", "--set lr=0: expected a number > 0"),
    ("batch_size=0", "--set batch_size=0: expected an integer >= 1"),
    ("plateau_patience=-1", "--set plateau_patience=-1: expected an integer >= 0"),
    ("optimizer=sgd", "--set optimizer=sgd: expected one of adamw"),
    ("schedule=cosine", "--set schedule=cosine: expected one of official, plateau, constant"),
    ("select=worst", "--set select=worst: expected one of best, last"),
    ("data.allow_missing=3", "--set data.allow_missing=3: expected true or false"),
    ("model.d_model=abc", "--set model.d_model=abc: expected an integer"),
])
def test_bad_set_is_one_line_before_any_stage(pair, match, tmp_path, capsys):
    line = _refused([*SMOKE, "--set", pair], tmp_path, capsys, match)
    if "unknown key" in match or "has no" in match:
        for key in ("epochs", "plateau_patience", "select", "model.d_model",
                    "data.allow_missing"):
            assert key in line  # the valid keys are listed


def test_bad_set_refused_for_profile(tmp_path, capsys):
    _refused(["profile", "vis4mer_breakfast", "--smoke", "--set", "epoch=1"], tmp_path, capsys,
             "--set epoch: unknown key")


def test_device_cuda_without_cuda(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    _refused([*SMOKE, "--device", "cuda"], tmp_path, capsys,
             "--device cuda: this machine has no CUDA device; use --device cpu")


def test_device_index_beyond_the_machine(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    _refused([*SMOKE, "--device", "cuda:5"], tmp_path, capsys, "has 2 CUDA device(s)")


def test_device_nonsense(tmp_path, capsys):
    _refused([*SMOKE, "--device", "nonsense"], tmp_path, capsys,
             "--device nonsense: not a device; use cpu, cuda or cuda:N")


@pytest.mark.parametrize("argv, match", [
    ([*SMOKE, "--nproc", "0"], "--nproc 0: must be at least 1"),
    ([*SMOKE, "--nproc", "-2"], "--nproc -2: must be at least 1"),
    ([*SMOKE, "--nnodes", "0"], "--nnodes 0: must be at least 1"),
    (["profile", "vis4mer_breakfast", "--smoke", "--iters", "-3"], "--iters -3: must be at least 1"),
    (["profile", "vis4mer_breakfast", "--smoke", "--iters", "0"], "--iters 0: must be at least 1"),
])
def test_counts_below_one(argv, match, tmp_path, capsys):
    _refused(argv, tmp_path, capsys, match)


def test_convert_checkpoint_corrupt_source(tmp_path, capsys):
    src = tmp_path / "bad.pyth"
    src.write_bytes(b"garbage" * 10)
    rc = cli.main(["convert-checkpoint", str(src), str(tmp_path / "out.pt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith(f"error: {src}: not a readable checkpoint (UnpicklingError")
    assert not (tmp_path / "out.pt").exists()


def test_convert_checkpoint_folder_destination(tmp_path, capsys):
    src = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(2)}, src)
    (tmp_path / "dst").mkdir()
    rc = cli.main(["convert-checkpoint", str(src), str(tmp_path / "dst")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0] == (f"error: destination {tmp_path / 'dst'} is a folder; give a file name, "
                      f"e.g. {tmp_path / 'dst' / 'w.weights.pt'}")
    assert list((tmp_path / "dst").iterdir()) == []


class Pickled:  # needs full unpickling, like an official checkpoint's cfg object
    pass


def test_weights_only_refusal_is_one_line(tmp_path, capsys):
    ckpt = tmp_path / "official.pyth"
    torch.save({"model_state": {"w": torch.zeros(1)}, "cfg": Pickled()}, ckpt)
    rc = cli.main([*SMOKE, "--eval-only", "--checkpoint", str(ckpt), "--stages", "evaluate",
                   "--records-dir", str(tmp_path / "records"),
                   "--output-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {ckpt}: a pickled checkpoint (Unsupported global")
    assert f"python -m reproducers convert-checkpoint {ckpt} " in err[0]
    # no ok record: at most the failure the harness keeps beside a stopped stage (issue 11)
    records = tmp_path / "records"
    assert not records.exists() or all(p.name.endswith(".failed.json")
                                       for p in records.rglob("*.json"))
    assert not list(records.rglob("evaluate.smoke.json"))


def test_acceptance_unknown_key_through_python_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "reproducers", "run", "vis4mer_breakfast", "--smoke", "--set",
         "no_such_key=1", "--records-dir", str(tmp_path / "r"), "--output-dir",
         str(tmp_path / "o")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "valid keys: batch_size, epochs" in lines[0], proc.stderr
    assert proc.stdout == ""
