"""Paths in run records that travel (issue 12, item 12).

A record stores a path relative to the most specific root of the run it belongs to, as a
string with a prefix: ``$DATA_ROOT/<rel>`` (``--data-root``, or the synthetic data folder of
a smoke run), ``$OUTPUT_DIR/<rel>`` (``--output-dir``: checkpoints, logs), ``$RECORDS_DIR/
<rel>`` (``--records-dir``) or ``$REPO/<rel>`` (the checkout); ``<rel>`` uses ``/`` and a
path that is a root itself is just the prefix (``$DATA_ROOT``). A path under none of them
stays absolute. The inputs hash of a stage holds these forms, so a clone of the same commit
at another place, with the same data under another ``--data-root`` and the records and
outputs moved along, reuses completed stages; reading expands the prefix against the roots
of the run that reads.

Records written before (schema 1) hold absolute paths: they still load, an absolute path is
used as it is (a stage whose inputs hash no longer matches runs again, with one line saying
why; a missing file makes the record stale, also one line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UserError
from .provenance import REPO_ROOT

PORTABLE_SCHEMA = 2  # the first record schema (records.SCHEMA_VERSION) with portable paths
ROOT_NAMES = ("DATA_ROOT", "OUTPUT_DIR", "RECORDS_DIR", "REPO")
FLAGS = {"DATA_ROOT": "--data-root", "OUTPUT_DIR": "--output-dir",
         "RECORDS_DIR": "--records-dir", "REPO": "the repository"}


def _abs(path) -> Path:
    """Absolute and normalised, symlinks kept (``..`` folded as the shell would not, which
    is what a root given on the command line means)."""
    return Path(os.path.abspath(os.fspath(path)))


@dataclass(frozen=True)
class Roots:
    """The roots of one run (None: not known to this run, e.g. no data root in ``check``)."""

    data_root: Path | None = None
    output_dir: Path | None = None
    records_dir: Path | None = None
    repo: Path | None = REPO_ROOT

    @classmethod
    def of(cls, opts, data_root=None) -> Roots:
        """The roots of ``opts`` (a RunOptions); ``data_root``: the resolved data root of the
        run (the synthetic data folder of a smoke run without --data-root). A seed's run
        (harness/seeds.py) keeps the output and records folders of the run that repeats it
        (``extras["roots"]``), so its paths read ``$OUTPUT_DIR/seeds/seed-N/...``."""
        root = data_root if data_root is not None else getattr(opts, "data_root", None)
        output_dir, records_dir = (getattr(opts, "extras", None) or {}).get(
            "roots", (opts.output_dir, opts.records_dir))
        return cls(*(None if p is None else _abs(p)
                     for p in (root, output_dir, records_dir)), _abs(REPO_ROOT))

    def _named(self) -> dict[str, Path]:
        values = (self.data_root, self.output_dir, self.records_dir, self.repo)
        return {n: p for n, p in zip(ROOT_NAMES, values, strict=True) if p is not None}

    def portable(self, path) -> str:
        """``path`` (absolute, or relative to the working folder) as a record stores it."""
        path = _abs(path)
        for candidate in (path, Path(os.path.realpath(path))):
            best = None
            for name, root in self._named().items():
                for r in (root, Path(os.path.realpath(root))):
                    if candidate == r or candidate.is_relative_to(r):
                        depth = len(r.parts)
                        if best is None or depth > best[0]:
                            best = (depth, name, candidate.relative_to(r))
            if best is not None:
                _, name, rel = best
                rel = PurePosixPath(*rel.parts)
                return f"${name}" if not rel.parts else f"${name}/{rel}"
        return str(path)

    def resolve(self, stored: str | os.PathLike) -> Path:
        """The file a record's path names in this run (an absolute or relative path that
        carries no ``$ROOT`` prefix is returned as it is: an older record)."""
        text = os.fspath(stored)
        if not text.startswith("$"):
            return Path(text)
        name, _, rel = text[1:].partition("/")
        if name not in ROOT_NAMES:
            raise UserError(f"record path {text!r}: unknown root ${name}; known: "
                            f"{', '.join('$' + n for n in ROOT_NAMES)}")
        root = self._named().get(name)
        if root is None:
            raise UserError(f"record path {text!r} is relative to {FLAGS[name]}, which this "
                            f"command was not given; pass {FLAGS[name]}")
        return root / rel if rel else root

    def portable_tree(self, obj, keys=("checkpoint",)):
        """``obj`` (a stage result or config) with every ``Path`` and every absolute path
        string under a root in its portable form; relative strings are taken as paths only
        under keys ending in one of ``keys`` (``checkpoint``, ``last_checkpoint``, ...)."""
        if isinstance(obj, Path):
            return self.portable(obj)
        if isinstance(obj, str):
            return self.portable(obj) if os.path.isabs(obj) and not obj.startswith("$") \
                and self.portable(obj) != obj else obj
        if isinstance(obj, dict):
            return {k: (self.portable(v) if isinstance(v, str) and v and not v.startswith("$")
                        and isinstance(k, str) and k.endswith(keys)
                        else self.portable_tree(v, keys))
                    for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.portable_tree(v, keys) for v in obj)
        return obj
