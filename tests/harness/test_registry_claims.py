"""The registry attaches a paper's ``[[claim]]`` rows from its expected.toml by itself: a
paper folder with claims in that file and no claim code gets them (harness/registry.py)."""

from __future__ import annotations

import sys
import textwrap

import pytest

import reproducers
from reproducers.harness import registry
from reproducers.harness.errors import UserError

CLAIM = """
[[claim]]
a = "{a}"
b = "fakeclaims_b"
metric = "acc@1"
kind = "smoke"
source = "toy sign task"
margin = 1.5
"""


@pytest.fixture
def paper_folder(tmp_path, monkeypatch):
    """A paper package ``reproducers.fakeclaims`` in a temporary folder: two reproductions
    declared in ``__init__.py`` (no claim code); the test writes its expected.toml."""
    pkg = tmp_path / "fakeclaims"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from tests.harness import fake_paper

        REPRODUCTIONS = [fake_paper.make("fakeclaims_a"), fake_paper.make("fakeclaims_b")]
    """))
    monkeypatch.setattr(reproducers, "__path__", [*reproducers.__path__, str(tmp_path)])
    registry.discover.cache_clear()
    yield pkg
    sys.modules.pop("reproducers.fakeclaims", None)
    registry.discover.cache_clear()


def test_claim_rows_of_expected_toml_are_attached_without_code(paper_folder):
    (paper_folder / "expected.toml").write_text(CLAIM.format(a="fakeclaims_a"))
    reps = registry.discover()
    (claim,) = reps["fakeclaims_a"].claims
    assert (claim.a, claim.b, claim.metric, claim.kind, claim.margin) == (
        "fakeclaims_a", "fakeclaims_b", "acc@1", "smoke", 1.5)
    assert list(reps["fakeclaims_b"].claims) == []
    # the papers of the repository keep their claims (e.g. ViS4mer's time-blind ablation)
    assert any(c.b == "vis4mer_breakfast_timeblind" for c in reps["vis4mer_breakfast"].claims)


def test_no_expected_toml_means_no_claims(paper_folder):
    reps = registry.discover()
    assert list(reps["fakeclaims_a"].claims) == [] and list(reps["fakeclaims_b"].claims) == []


def test_a_claim_on_another_papers_reproduction_is_one_line(paper_folder):
    (paper_folder / "expected.toml").write_text(CLAIM.format(a="vis4mer_breakfast"))
    with pytest.raises(UserError) as err:
        registry.discover()
    msg = str(err.value)
    assert "\n" not in msg and "expected.toml" in msg and "fakeclaims_a" in msg
