"""Records that travel (issue 12, item 12): paths in records are relative to the run's roots
(harness/portable.py), so the same data, outputs and records under other absolute paths
reuse completed stages; ``run`` / ``report`` write results.md beside ``--records-dir``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reproducers.cli import main
from reproducers.harness import registry
from reproducers.harness.errors import UserError
from reproducers.harness.portable import Roots
from reproducers.harness.provenance import command_line
from reproducers.harness.runlock import release_run_dir
from tests.harness import fake_paper

NAME = "fake_toy"


@pytest.fixture
def cli(monkeypatch, capsys):
    rep = fake_paper.make(NAME)
    monkeypatch.setattr(registry, "discover", lambda: {NAME: rep})
    used = []

    def run(*args):
        capsys.readouterr()
        rc = main([*map(str, args)])
        out = capsys.readouterr()
        return rc, out.out + out.err

    def in_tree(tree: Path, *args):
        used.append(tree / "out" / f"{NAME}-smoke")
        return run("run", NAME, "--smoke", "--no-progress", "--device", "cpu",
                   "--data-root", tree / "data", "--output-dir", tree / "out",
                   "--records-dir", tree / "rec", *args)

    run.in_tree = in_tree
    yield run
    for folder in used:
        release_run_dir(folder)


def _tree(tmp: Path) -> Path:
    tree = tmp / "a"
    fake_paper.synthesize(tree / "data", {}, seed=3)
    return tree


def _records(tree: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((tree / "rec" / NAME).glob("*.json"))}


def test_a_moved_tree_reuses_its_completed_stages(cli, tmp_path):
    a = _tree(tmp_path)
    rc, log = cli.in_tree(a, "--stages", "train", "evaluate")
    assert rc == 0, log
    before = _records(a)
    assert set(before) == {"train.smoke.json", "evaluate.smoke.json"}
    for name, blob in before.items():  # no absolute path of the tree in what the records say
        rec = json.loads(blob)
        rec.pop("provenance")  # (its "command" is the command line as typed)
        assert str(tmp_path) not in json.dumps(rec), name
    train = json.loads(before["train.smoke.json"])
    assert train["schema"] == 2 and train["config"]["data_root"] == "$DATA_ROOT"
    assert train["result"]["checkpoint"] == f"$OUTPUT_DIR/{NAME}-smoke/model.pt"
    assert json.loads(before["evaluate.smoke.json"])["config"]["checkpoint"] == \
        f"$OUTPUT_DIR/{NAME}-smoke/model.pt"

    release_run_dir(a / "out" / f"{NAME}-smoke")  # (another process would hold no lock)
    b = tmp_path / "elsewhere" / "b"
    b.parent.mkdir()
    shutil.move(a, b)  # data, outputs and records at another place: nothing left at a
    rc, log = cli.in_tree(b, "--stages", "train", "evaluate")
    assert rc == 0, log
    assert log.count("not run again") == 2, log  # train and evaluate reused
    assert _records(b) == before

    # the reused record reads its files under b: a checkpoint gone there makes it stale
    (b / "out" / f"{NAME}-smoke" / "model.pt").unlink()
    rc, log = cli.in_tree(b, "--stages", "train")
    assert rc == 0, log
    assert f"is stale ($OUTPUT_DIR/{NAME}-smoke/model.pt is gone); running again" in log
    assert (b / "out" / f"{NAME}-smoke" / "model.pt").is_file()


def test_old_records_with_absolute_paths_still_load(cli, tmp_path):
    a = _tree(tmp_path)
    assert cli.in_tree(a, "--stages", "train")[0] == 0
    path = a / "rec" / NAME / "train.smoke.json"
    old = json.loads(path.read_text())  # as schema 1 wrote it: absolute paths, other hash
    ckpt = a / "out" / f"{NAME}-smoke" / "model.pt"
    old.update(schema=1, inputs_hash="0123456789abcdef")
    old["config"]["data_root"] = str(a / "data")
    old["result"]["checkpoint"] = str(ckpt)
    path.write_text(json.dumps(old))

    rc, log = cli.in_tree(a, "--stages", "evaluate")  # evaluate reads its absolute checkpoint
    assert rc == 0, log
    ev = json.loads((a / "rec" / NAME / "evaluate.smoke.json").read_text())
    assert ev["config"]["checkpoint"] == f"$OUTPUT_DIR/{NAME}-smoke/model.pt"

    rc, log = cli.in_tree(a, "--stages", "train")  # no longer current: one line, run again
    assert rc == 0, log
    lines = [line for line in log.splitlines() if "predates portable paths" in line]
    assert len(lines) == 1 and str(path) in lines[0] and "running again" in lines[0]
    assert json.loads(path.read_text())["result"]["checkpoint"].startswith("$OUTPUT_DIR/")


def test_run_and_report_write_results_md_beside_the_records_dir(cli, tmp_path):
    a = _tree(tmp_path)
    rc, log = cli.in_tree(a, "--stages", "train", "evaluate", "report")
    assert rc == 0, log
    assert (a / "results.md").is_file() and f"report written to {a / 'results.md'}" in log
    assert NAME in (a / "results.md").read_text()

    other = tmp_path / "other" / "records"
    shutil.copytree(a / "rec", other)
    rc, log = cli("report", "--records-dir", other)
    assert rc == 0, log
    assert (tmp_path / "other" / "results.md").is_file()
    rc, log = cli("report", "--records-dir", other, "--out", tmp_path / "x.md")  # told: there
    assert rc == 0 and (tmp_path / "x.md").is_file()
    listing = sorted((tmp_path / "other").iterdir())
    assert cli("check", "--records-dir", other)[0] == 0  # check writes no report
    assert sorted((tmp_path / "other").iterdir()) == listing
    assert not (tmp_path / "results.md").exists()


def test_help_names_the_report_place(capsys):
    for command in (["run", "--help"], ["report", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        assert "beside --records-dir" in " ".join(capsys.readouterr().out.split())


def test_the_recorded_command_names_no_clone():
    argv = ["/somewhere/clone/reproducers/__main__.py", "run", NAME, "--smoke"]
    assert command_line(argv) == f"python -m reproducers run {NAME} --smoke"
    assert command_line(["/usr/bin/tool", "x"]) == "/usr/bin/tool x"


def test_roots_pick_the_most_specific_and_resolve_elsewhere(tmp_path):
    old = Roots(tmp_path / "a" / "out" / "x-smoke" / "data", tmp_path / "a" / "out",
                tmp_path / "a" / "rec", tmp_path / "a")
    new = Roots(tmp_path / "b" / "data", tmp_path / "b" / "out", tmp_path / "c", tmp_path / "r")
    cases = {
        old.data_root / "train.jsonl": ("$DATA_ROOT/train.jsonl", new.data_root / "train.jsonl"),
        old.data_root: ("$DATA_ROOT", new.data_root),
        old.output_dir / "x-smoke" / "model.pt": ("$OUTPUT_DIR/x-smoke/model.pt",
                                                  new.output_dir / "x-smoke" / "model.pt"),
        old.records_dir / "x" / "e.json": ("$RECORDS_DIR/x/e.json", new.records_dir / "x/e.json"),
        old.repo / "weights" / "w.pt": ("$REPO/weights/w.pt", new.repo / "weights" / "w.pt"),
        Path("/nowhere/w.pt"): ("/nowhere/w.pt", Path("/nowhere/w.pt")),
    }
    for path, (stored, there) in cases.items():
        assert old.portable(path) == stored
        assert new.resolve(stored) == there
    tree = old.portable_tree({"checkpoint": str(old.output_dir / "m.pt"), "n": 3,
                              "files": [old.data_root / "a"], "note": "/nowhere"})
    assert tree == {"checkpoint": "$OUTPUT_DIR/m.pt", "n": 3, "files": ["$DATA_ROOT/a"],
                    "note": "/nowhere"}
    with pytest.raises(UserError, match="pass --data-root"):
        Roots(None, tmp_path, tmp_path).resolve("$DATA_ROOT/a")
    with pytest.raises(UserError, match="unknown root"):
        new.resolve("$HOME/a")
