"""ViS4mer (ECCV 2022) reproducer; declarations are wired in once data/ is in place."""

REPRODUCTIONS: list = []
