"""SVM's optional dependencies, the ``svm`` extra (mmcv 2.1 built with its ops, mmdet 3.3,
mmengine; OpenCV too is imported lazily, although trackeval brings it into every install):
imported only when an SVM reproduction builds its model, data or clips, so ``list`` /
``check`` / ``report`` and every other paper work without them (issue 13).

A missing piece is a one-line ``UserError`` (exit 2) naming the command that installs it.
mmcv has no wheel for current torch and is built from source with special flags, so a plain
``pip install video-reproducers[svm]`` is not enough; nox does the build.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from reproducers.harness.errors import UserError

# what SVM imports: OpenCV for the clip pipeline, mmdet's YOLOX neck/head with mmcv's
# compiled ``nms``, mmengine for their config and registries
MODULES = ("cv2", "mmengine", "mmcv", "mmcv.ops", "mmdet")
INSTALL = ("nox -s reproduce -- svm_mot17 [flags] installs it on demand (by hand: README.md "
           "'Installing by hand')")


def missing_error(exc: ImportError) -> UserError:
    name = exc.name or str(exc)
    return UserError(f"svm needs the optional 'svm' extra (mmcv 2.1 with ops, mmdet 3.3, "
                     f"mmengine; cannot import {name}): {INSTALL}")


@functools.cache
def require() -> None:
    """Import every module of the extra once; a missing one is a one-line UserError."""
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise missing_error(exc) from None


class LazyModule:
    """A module imported on first attribute access (``cv2 = LazyModule("cv2")`` keeps
    ``cv2.resize(...)`` call sites as they are); missing, it is the one-line UserError."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        if self._module is None:
            try:
                self._module = importlib.import_module(self._name)
            except ImportError as exc:
                raise missing_error(exc) from None
        return getattr(self._module, attr)
