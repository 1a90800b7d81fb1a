"""The on-disk form of the small pickled caches (read verdicts, signatures): a missing or damaged file is
an empty cache, never an error, since everything in it can be recomputed."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

# What a truncated, foreign or outdated pickle can raise while loading.
DAMAGED = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, ImportError)


def load_pickled_dict(file: Path) -> dict[Any, Any]:
    try:
        with file.open("rb") as handle:
            loaded = pickle.load(handle)  # our own cache folder: written only by the caches themselves
    except DAMAGED:
        return {}
    return loaded if isinstance(loaded, dict) else {}
