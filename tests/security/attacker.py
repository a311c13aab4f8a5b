"""What an attacker can conclude from published reporting figures.

The strongest simple attacker: every published count p says the truth lies in
[max(0, p - 4), p + 4] (that much the method is public); known identities between cells
(new = open + closed, a family = the sum of its codes, all wijken = one wijk + the rest,
an earlier figure + what the attacker added = the later figure) cut those boxes down. The
attack succeeds when exactly one value of the target is left: then the attacker knows it,
as `closed = new − open` gave it for certain under per-cell "<5" suppression. (A naive
subtraction of multiples of 5 can only equal a protected count by luck the attacker cannot
tell from a miss.)
"""

from collections.abc import Iterable
from itertools import product

SPREAD = 4  # published counts are within 4 of the truth (random rounding to base 5)


def box(published: int) -> range:
    return range(max(0, published - SPREAD), published + SPREAD + 1)


def feasible(target: str, published: dict[str, int], sums: Iterable[tuple[str, list[tuple[str, int]]]]) -> set[int]:
    """Values of `target` consistent with every published figure and identity.

    `sums` holds identities `cell = Σ coefficient × part`: the parts are the free variables
    (enumerated over their boxes), each identity's cell must land in its own box."""
    sums = list(sums)
    free = sorted({name for _, parts in sums for name, _ in parts} | ({target} - {c for c, _ in sums}))
    found = set()
    for values in product(*(box(published[n]) for n in free)):
        v = dict(zip(free, values, strict=True))
        ok = True
        for cell, parts in sums:
            total = sum(c * v[name] for name, c in parts)
            if total not in box(published[cell]):
                ok = False
                break
            v[cell] = total
        if ok:
            found.add(v[target])
    return found


def succeeded(true_value: int, candidates: set[int]) -> bool:
    assert true_value in candidates, "the attacker's reasoning must never exclude the truth"
    return candidates == {true_value}
