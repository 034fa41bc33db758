"""Discovers reproductions from the paper folders: every sub-package of ``reproducers``
other than ``harness`` and ``common`` that exposes ``REPRODUCTIONS``.

Nothing here names a paper: adding a paper is adding a folder.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

import reproducers

from .declarations import Reproduction
from .errors import UserError

INFRASTRUCTURE = {"harness", "common"}


def paper_packages() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(reproducers.__path__)
        if m.ispkg and m.name not in INFRASTRUCTURE
    )


@cache
def discover() -> dict[str, Reproduction]:
    found: dict[str, Reproduction] = {}
    for pkg in paper_packages():
        module = importlib.import_module(f"reproducers.{pkg}")
        for rep in getattr(module, "REPRODUCTIONS", []):
            if rep.name in found:
                raise UserError(f"reproduction {rep.name!r} is declared twice (in {pkg})")
            names = {r.reproduction for r in rep.expected}
            if names - {rep.name}:
                raise UserError(
                    f"reproducers/{pkg}/expected.toml: rows for {sorted(names - {rep.name})} "
                    f"attached to {rep.name}"
                )
            found[rep.name] = rep
    for rep in found.values():  # a claim's other side must exist (its own side is rep)
        for claim in rep.claims:
            if claim.a != rep.name or claim.b not in found:
                raise UserError(f"reproducers/{rep.paper.key}/expected.toml: claim "
                                f"{claim.a} vs {claim.b} attached to {rep.name}; both must "
                                f"be declared reproductions, a being {rep.name}")
    return found


def get(name: str) -> Reproduction:
    reps = discover()
    if name in reps:
        return reps[name]
    close = difflib.get_close_matches(name, reps, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "run `python -m reproducers list`"
    raise UserError(f"unknown reproduction {name!r}; {hint}")


def select(names: list[str] | None) -> list[Reproduction]:
    if not names:
        return list(discover().values())
    return [get(n) for n in names]
