"""The metrics a result table may name, with their default direction and unit.

An expected row naming a metric not listed here is a schema error, so a typo in a paper's
expected.toml ("acc1", "MOTA ") is caught when the registry loads, not when checking.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    direction: str  # "higher" or "lower" is better
    unit: str  # "%" for percentages, "" otherwise
    proportion: bool  # a percentage of eval samples: tolerance from the binomial standard error


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("acc@1", "higher", "%", True),
        MetricInfo("acc@5", "higher", "%", True),
        MetricInfo("mse", "lower", "", False),
        MetricInfo("map", "higher", "%", False),  # mean average precision over classes
        MetricInfo("mota", "higher", "%", False),
        MetricInfo("hota", "higher", "%", False),
        MetricInfo("idf1", "higher", "%", False),
        MetricInfo("fp", "lower", "", False),
        MetricInfo("fn", "lower", "", False),
        MetricInfo("idsw", "lower", "", False),
    ]
}
