"""Paper-agnostic machinery: declarations, registry, stages, run records, check, report, CLI."""
