"""Statistical disclosure control: every figure reporting publishes goes through here.

Method: random rounding to base 5 (as Statistics Canada publishes its census), with the
random draw fixed by a cell key (as the ABS/ONS cell-key method does). Each fact row gets
a record key (a keyed hash of its random id); a cell's key is the sum of the record keys
of exactly the records that make up that cell. The cell's count is rounded to one of the
two nearest multiples of 5, up with probability (count mod 5) / 5 — unbiased — where the
"probability" is read off the cell key. So

* the same set of records gives the same published value on every endpoint, filter,
  dashboard and repeated query: nothing averages out, and two views of one set agree;
* different sets get independent draws: a published value says only that the true count
  lies within 4 of it, and a difference of published values (a total minus its parts,
  new − open, all wijken − one wijk, two snapshots) is off by up to 8 or more;
* true zeros stay zero; nothing is suppressed, so there are no "<5" holes to fill in.

Sums of money are rounded the same way to EUR 1,000 and are only shown when the protected
number of contributing households is at least 10; rates, shares and medians are computed
from protected values or withheld below the same threshold.
"""

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

BASE = 5
AMOUNT_BASE_EUR = 1000
MIN_HOUSEHOLDS = 10  # protected count below which sums, medians and per-VHE figures are withheld
_SPACE = 2**32


@dataclass(frozen=True)
class Cell:
    """The true figure of one cell and the key of the records behind it."""

    value: int | Decimal
    key: int = 0


class Disclosure:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def record_key(self, kind: str, record_id: Any) -> int:
        """A fact's record key: keyed, so nobody without the secret can predict a cell's draw."""
        digest = hmac.new(self._secret, f"{kind}:{record_id}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big")

    def _draw(self, label: str, key: int) -> float:
        digest = hmac.new(self._secret, f"{label}:{int(key) % _SPACE}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def count(self, n: int | Cell, key: int = 0) -> int:
        """A count as it may be published: a multiple of 5, within 4 of the truth."""
        if isinstance(n, Cell):
            n, key = int(n.value), n.key
        n = int(n)
        if n <= 0:
            return 0
        low, rest = n - n % BASE, n % BASE
        if rest == 0:
            return n
        return low + BASE if self._draw("count", key) < rest / BASE else low

    def amount(self, total: Decimal | float, key: int, households: int) -> float | None:
        """A sum of money, rounded to EUR 1,000 by the same rule; withheld (None) when the
        protected number of households behind it is below 10."""
        if households < MIN_HOUSEHOLDS:
            return None
        cents, base = int(round(Decimal(total) * 100)), AMOUNT_BASE_EUR * 100
        low, rest = cents - cents % base, cents % base
        if rest and self._draw("amount", key) < rest / base:
            low += base
        return low / 100


def shown(protected_count: int) -> bool:
    """Whether a figure derived from this many records (a median, a rate) may be shown."""
    return protected_count >= MIN_HOUSEHOLDS


def rounded_median(value: float | None, protected_count: int) -> float | None:
    """A median in whole units, only over enough records (judged on the protected count,
    so that appearing or disappearing tells no more than the count itself)."""
    return None if value is None or not shown(protected_count) else float(round(value))
