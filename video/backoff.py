"""Delays between reconnect attempts."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Capped exponential backoff with jitter.

    Doubling spares a camera that is rebooting; the cap bounds how long a recovered
    camera stays dark; jitter keeps many cameras that dropped together (a switch
    restart) from all reconnecting in the same instant.

        backoff = Backoff(0.5, 30.0)
        backoff.next()  # ~0.5, then ~1, ~2, ... at most 30; reset() after a good frame
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        jitter: float = 0.2,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng
        self._delay = initial

    def next(self) -> float:
        """The delay to wait now; each call doubles the next one up to the cap."""
        delay = self._delay
        self._delay = min(self._delay * 2, self.maximum)
        return delay * (1 - self.jitter * self._rng())  # jitter downwards: never over the cap

    def reset(self) -> None:
        self._delay = self.initial
