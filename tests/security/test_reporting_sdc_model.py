"""The differencing attacks against the disclosure control itself, over many keys and
record sets: how often can the best simple attacker pin a protected small count? (Fast:
no stack; the live battery is test_reporting_differencing.py.)"""

import random

from services.reporting.domain.disclosure import Disclosure
from tests.security.attacker import feasible, succeeded

TRIALS = 1000


def _world(seed: int):
    rng = random.Random(seed)
    d = Disclosure(rng.randbytes(32))

    def cell(n: int, tag: str) -> tuple[int, int]:
        return n, sum(d.record_key("case", f"{seed}-{tag}-{i}") for i in range(n))

    return rng, d, cell


def _pin_rate(attack) -> float:
    wins = sum(attack(seed) for seed in range(TRIALS))
    return wins / TRIALS


def _row(seed: int) -> bool:
    """closed = new − open in one row."""
    rng, d, cell = _world(seed)
    open_, closed = rng.randint(1, 12), rng.randint(1, 4)
    # the row's records: open ones and closed ones; "new" is all of them
    o_n, o_k = cell(open_, "open")
    c_n, c_k = cell(closed, "closed")
    pub = {"new": d.count(o_n + c_n, o_k + c_k), "open": d.count(o_n, o_k), "closed": d.count(c_n, c_k)}
    cands = feasible("closed", pub, [("new", [("open", 1), ("closed", 1)])])
    return succeeded(closed, cands)


def _family(seed: int) -> bool:
    """A family total minus its per-code rows."""
    rng, d, cell = _world(seed)
    codes = {"a": rng.randint(5, 15), "b": rng.randint(1, 4), "c": rng.randint(0, 9)}
    cells = {k: cell(n, k) for k, n in codes.items()}
    pub = {k: d.count(*c) for k, c in cells.items()}
    pub["family"] = d.count(sum(c[0] for c in cells.values()), sum(c[1] for c in cells.values()))
    cands = feasible("b", pub, [("family", [("a", 1), ("b", 1), ("c", 1)])])
    return succeeded(codes["b"], cands)


def _all_but_one(seed: int) -> bool:
    """Time of day for all wijken minus one wijk (the rest published too)."""
    rng, d, cell = _world(seed)
    one, rest = cell(rng.randint(3, 20), "one"), cell(rng.randint(1, 4), "rest")
    pub = {"all": d.count(one[0] + rest[0], one[1] + rest[1]), "one": d.count(*one), "rest": d.count(*rest)}
    cands = feasible("rest", pub, [("all", [("one", 1), ("rest", 1)])])
    return succeeded(rest[0], cands)


def _one_more_case(seed: int) -> bool:
    """Add one case of one's own (known to be exactly one), re-query, subtract."""
    rng, d, cell = _world(seed)
    x = rng.randint(1, 4)
    others_n, others_k = cell(x, "others")
    mine = d.record_key("case", f"{seed}-mine")
    before, after = d.count(others_n, others_k), d.count(x + 1, others_k + mine)
    cands = feasible("x", {"x": before, "after_minus_mine": after - 1}, [("after_minus_mine", [("x", 1)])])
    return succeeded(x, cands)


def _snapshots(seed: int) -> bool:
    """Two spend snapshots around one household's cost."""
    rng, d, _ = _world(seed)
    total = rng.randint(10_000, 900_000) / 100
    cost = rng.randint(5_000, 300_000) / 100
    key, mine = rng.getrandbits(40), rng.getrandbits(32)
    s1, s2 = d.amount(total, key, 20), d.amount(total + cost, key + mine, 20)
    # the difference is a multiple of EUR 1,000: never a cost to the cent, unless the cost is one
    return s2 - s1 == cost


def test_differencing_attacks_pin_small_counts_rarely_and_never_the_one_step_ones(capsys):
    rates = {name: _pin_rate(attack) for name, attack in
             [("closed = new - open", _row), ("family - codes", _family), ("all wijken - one", _all_but_one),
              ("one more case", _one_more_case), ("spend snapshots", _snapshots)]}
    with capsys.disabled():
        print("\nshare of trials where the attacker pins the protected value:",
              ", ".join(f"{k}: {v:.2%}" for k, v in rates.items()))
    assert rates["one more case"] == 0  # provably: two intervals 5 apart always leave ≥ 2 values
    assert rates["spend snapshots"] == 0
    assert all(rate < 0.02 for rate in rates.values()), rates


def _k_more_cases(k: int, seed: int) -> bool:
    """The known limit: a corporation that files k real cases of its own into one cell,
    one at a time, re-querying after each, gets k + 1 independent draws."""
    rng, d, cell = _world(seed)
    x = rng.randint(1, 4)
    n, key = cell(x, "others")
    candidates = set(range(max(0, d.count(n, key) - 4), d.count(n, key) + 5))
    for j in range(1, k + 1):
        key += d.record_key("case", f"{seed}-mine-{j}")
        after = d.count(x + j, key)
        candidates &= {c for c in range(0, after + 5) if c + j in range(max(0, after - 4), after + 5)}
    return succeeded(x, candidates)


def test_the_cost_of_averaging_by_filing_cases(capsys):
    rates = {k: sum(_k_more_cases(k, s) for s in range(TRIALS)) / TRIALS for k in (1, 2, 3, 5, 10, 20)}
    with capsys.disabled():
        print("\nshare pinned after k cases of one's own in the cell:",
              ", ".join(f"k={k}: {v:.1%}" for k, v in rates.items()))
    assert rates[1] == 0
    assert rates[2] < 0.10 and rates[3] < 0.25  # docs/security.md gives these figures as the method's limit
