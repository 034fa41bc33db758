"""Run records: one JSON file per (reproduction, stage, smoke/full), written atomically.

Layout: ``reports/records/<reproduction>/<stage>.json`` for real runs and
``<stage>.smoke.json`` for smoke runs, so synthetic results never mix with paper rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from .atomic import write_json_atomic
from .errors import UserError
from .provenance import REPO_ROOT

SCHEMA_VERSION = 1
DEFAULT_RECORDS_DIR = REPO_ROOT / "reports" / "records"


def record_path(records_dir: Path, reproduction: str, stage: str, smoke: bool) -> Path:
    suffix = ".smoke.json" if smoke else ".json"
    return Path(records_dir) / reproduction / f"{stage}{suffix}"


def write_record(records_dir: Path, record: dict) -> Path:
    record = {"schema": SCHEMA_VERSION, **record}
    path = record_path(records_dir, record["reproduction"], record["stage"], record["smoke"])
    return write_json_atomic(path, record)


def read_record(records_dir: Path, reproduction: str, stage: str, smoke: bool) -> dict | None:
    path = record_path(records_dir, reproduction, stage, smoke)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: corrupt run record ({exc}); delete it and re-run the stage") from None
