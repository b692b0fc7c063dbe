"""Optional dependencies: one import helper, so that every feature that needs an
extra names the same fix (``pip install 'scratchnet[X]'``)."""
from __future__ import annotations

import importlib


class MissingExtra(ImportError):
    """An optional dependency of the feature just used is not installed."""


def need(module: str, extra: str):
    """Import ``module`` or raise ``MissingExtra`` naming ``pip install 'scratchnet[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"this feature needs the {module!r} package: pip install 'scratchnet[{extra}]'"
        ) from exc
