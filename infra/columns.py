"""Growable numpy columns, the storage of the in-memory mirrors (groups' and history's).

A dictionary-encoded string column holds integer codes; `MISSING` marks a row without
a value. `grown` copies a column into a bigger one, the new rows set to `fill`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MISSING = -1


def grown(array: np.ndarray, capacity: int, fill: Any) -> np.ndarray:
    bigger = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
