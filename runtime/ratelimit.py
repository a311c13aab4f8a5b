"""Rate limits with the `limits` library (moving window, in memory).

The counters live in each process: with N instances of a service a caller gets up to N
times the budget. That bounds brute force and runaway clients well enough without a
shared store; a Redis storage (`limits` supports it) would make the budget exact.
"""

import math
import time

from fastapi import HTTPException
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimit:
    """One or more limits ("10/minute;100/hour") over keys (an organisation, a client id)."""

    def __init__(self, spec: str) -> None:
        self.items = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, *key: str) -> int:
        """Counts one request; returns 0 if it is allowed, else the seconds to wait."""
        for item in self.items:
            if not self._limiter.hit(item, *key):
                reset = self._limiter.get_window_stats(item, *key).reset_time
                return max(1, math.ceil(reset - time.time()))
        return 0


def too_many(retry_after: int, detail: str) -> HTTPException:
    return HTTPException(429, f"{detail}; retry after {retry_after} s", headers={"Retry-After": str(retry_after)})


def valid_spec(spec: str) -> str:
    """For settings validators: raises ValueError on a spec `limits` cannot read."""
    parse_many(spec)
    return spec
