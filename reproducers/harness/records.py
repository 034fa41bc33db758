"""Run records: one JSON file per (reproduction, stage, smoke/full), written atomically.

Layout: ``reports/records/<reproduction>/<stage>.json`` for real runs and
``<stage>.smoke.json`` for smoke runs, so synthetic results never mix with paper rows.
A stage that fails or is interrupted writes ``<stage>[.smoke].failed.json`` beside them and
never touches the last good record; the next success removes the failure record.
"""

from __future__ import annotations

import json
from pathlib import Path

from .atomic import file_in_the_way, write_json_atomic
from .errors import UserError
from .provenance import REPO_ROOT

SCHEMA_VERSION = 2  # 2: paths relative to the run's roots, "$OUTPUT_DIR/..." (portable.py)
DEFAULT_RECORDS_DIR = REPO_ROOT / "reports" / "records"
STATUSES = ("ok", "failed", "interrupted")


class CorruptRecord(UserError):
    """A record that is not JSON, or JSON of the wrong shape; ``path`` names the file."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path}: corrupt run record ({why}); delete it and re-run the stage")
        self.path = Path(path)


def record_path(records_dir: Path, reproduction: str, stage: str, smoke: bool) -> Path:
    suffix = ".smoke.json" if smoke else ".json"
    return Path(records_dir) / reproduction / f"{stage}{suffix}"


def failed_record_path(records_dir: Path, reproduction: str, stage: str, smoke: bool) -> Path:
    suffix = ".smoke.failed.json" if smoke else ".failed.json"
    return Path(records_dir) / reproduction / f"{stage}{suffix}"


def report_beside(records_dir: Path) -> Path:
    """Where ``run`` and ``report`` write the report unless told (``--report`` / ``--out``):
    ``results.md`` beside the records folder, ``<records-dir>/../results.md`` (so the default
    records, reports/records, give reports/results.md, and the report's links to records,
    relative to that folder, work)."""
    return Path(records_dir).parent / "results.md"


def check_records_dir(records_dir: Path) -> Path:
    records_dir = Path(records_dir)
    if file_in_the_way(records_dir) is not None:
        raise UserError(f"--records-dir {records_dir}: {file_in_the_way(records_dir)} is a "
                        f"file, not a folder; give the folder of the run records (default "
                        f"{DEFAULT_RECORDS_DIR})")
    return records_dir


def write_record(records_dir: Path, record: dict) -> Path:
    """Write an "ok" record over the last one (and drop a failure record beside it), or a
    "failed"/"interrupted" one beside the last good record."""
    check_records_dir(records_dir)
    record = {"schema": SCHEMA_VERSION, **record}
    args = (records_dir, record["reproduction"], record["stage"], record["smoke"])
    if record["status"] != "ok":
        return write_json_atomic(failed_record_path(*args), record)
    path = write_json_atomic(record_path(*args), record)
    failed_record_path(*args).unlink(missing_ok=True)
    return path


def read_record(records_dir: Path, reproduction: str, stage: str, smoke: bool) -> dict | None:
    """The stage's record (the last good one, or an old-style failed one), None if absent."""
    return _read(record_path(check_records_dir(records_dir), reproduction, stage, smoke), stage)


def read_failed_record(records_dir: Path, reproduction: str, stage: str,
                       smoke: bool) -> dict | None:
    """The failure record beside the good one, None if the last run of the stage succeeded."""
    path = failed_record_path(check_records_dir(records_dir), reproduction, stage, smoke)
    return _read(path, stage)


def _read(path: Path, stage: str) -> dict | None:
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecord(path, str(exc)) from None
    except OSError as exc:
        raise CorruptRecord(path, f"unreadable: {exc.strerror}") from None
    why = shape_error(rec, stage)
    if why:
        raise CorruptRecord(path, why)
    return rec


def shape_error(rec, stage: str) -> str | None:
    """Why ``rec`` is not a run record of ``stage`` (None when it is one)."""
    if not isinstance(rec, dict):
        return f"a JSON {type(rec).__name__}, not an object"
    if rec.get("stage") != stage:
        return f"'stage' is {rec.get('stage')!r}, not {stage!r}"
    if rec.get("status") not in STATUSES:
        return f"'status' is {rec.get('status')!r}, not one of {', '.join(STATUSES)}"
    if rec["status"] == "ok":
        if not isinstance(rec.get("result"), dict):
            return "an 'ok' record without a 'result' object"
        res = rec["result"]
        if stage in ("train", "evaluate") and "checkpoint" in res \
                and not isinstance(res["checkpoint"], str):
            return "'result.checkpoint' is not a path string"
        metrics = res.get("metrics", {}) if stage == "evaluate" else {}
        if not isinstance(metrics, dict):
            return "'result.metrics' is not an object"
        bad = [k for k, v in metrics.items() if isinstance(v, bool) or not isinstance(v, int | float)]
        if bad:
            return f"'result.metrics' {bad[0]!r} is not a number"
    return None
