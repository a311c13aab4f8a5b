"""Reporting's rule for every figure it shows: small counts are suppressed."""

SUPPRESS_BELOW = 5


def suppressed(count: int) -> int | str:
    """A count below 5 could point at a household: show it as "<5"."""
    return "<5" if 0 < count < SUPPRESS_BELOW else count
