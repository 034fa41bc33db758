"""Discovers reproductions from the paper folders: every sub-package of ``reproducers``
other than ``harness`` and ``common`` that exposes ``REPRODUCTIONS``.

The ``[[claim]]`` rows of a paper's ``expected.toml`` (beside its ``__init__.py``) are
attached here to the reproduction named by each claim's ``a``, so a paper declares claims
in that file alone (no code). Nothing here names a paper: adding a paper is adding a folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
from functools import cache
from pathlib import Path

import reproducers

from .claims import load_claims
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
        for rep in with_claims(pkg, module, getattr(module, "REPRODUCTIONS", [])):
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


def with_claims(pkg: str, module, reps) -> list[Reproduction]:
    """``reps`` with the ``[[claim]]`` rows of the paper's expected.toml attached to their
    side ``a`` (claims a paper already attached itself are kept, not repeated)."""
    reps = list(reps)
    path = Path(module.__file__ or "").with_name("expected.toml")
    claims = load_claims(path) if module.__file__ and path.is_file() else []
    names = {rep.name for rep in reps}
    stray = [c for c in claims if c.a not in names]
    if stray:
        raise UserError(f"{path}: claim {stray[0].a} vs {stray[0].b}: a must be a reproduction "
                        f"of reproducers/{pkg} (one of {', '.join(sorted(names))})")
    out = []
    for rep in reps:
        own = [c for c in claims if c.a == rep.name and c not in rep.claims]
        out.append(dataclasses.replace(rep, claims=[*rep.claims, *own]) if own else rep)
    return out


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
