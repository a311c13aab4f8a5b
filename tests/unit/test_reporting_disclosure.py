"""The disclosure control on its own: random rounding to base 5 driven by a cell key."""

import random
from decimal import Decimal

from services.reporting.domain.access import Reader
from services.reporting.domain.disclosure import Disclosure, rounded_median

D = Disclosure(b"unit-test-key")


def _cell(n: int, seed: int) -> tuple[int, int]:
    """n records with record keys from ids seed..seed+n: (count, cell key)."""
    return n, sum(D.record_key("case", f"{seed}-{i}") for i in range(n))


def test_counts_are_multiples_of_five_within_four_and_zero_stays_zero():
    assert D.count(0, 12345) == 0
    for n in range(1, 60):
        for seed in range(20):
            published = D.count(*_cell(n, seed))
            assert published % 5 == 0 and abs(published - n) <= 4, (n, published)
            if n % 5 == 0:
                assert published == n


def test_the_same_records_always_give_the_same_value():
    n, key = _cell(7, 1)
    assert len({D.count(n, key) for _ in range(50)}) == 1
    assert D.count(n, key) == Disclosure(b"unit-test-key").count(n, key)  # a restart, a rebuild


def test_rounding_is_unbiased_over_record_sets():
    # the draw is up with probability (n mod 5) / 5: the mean over many record sets is n
    for n in (1, 3, 8):
        mean = sum(D.count(*_cell(n, seed)) for seed in range(4000)) / 4000
        assert abs(mean - n) < 0.25, (n, mean)


def test_another_key_gives_other_draws():
    other = Disclosure(b"another-key")
    draws = [(D.count(*_cell(3, s)), other.count(3, _cell(3, s)[1])) for s in range(200)]
    assert any(a != b for a, b in draws)


def test_amounts_are_rounded_to_a_thousand_and_withheld_below_ten_households():
    assert D.amount(Decimal("4321.17"), 99, households=5) is None
    for seed in range(50):
        total = Decimal(random.Random(seed).randint(0, 10**8)) / 100
        published = D.amount(total, seed * 7919, households=10)
        assert published is not None and published % 1000 == 0 and abs(published - float(total)) < 1000


def test_medians_only_over_enough_records_and_in_whole_units():
    assert rounded_median(12.44, 5) is None
    assert rounded_median(12.44, 10) == 12.0
    assert rounded_median(None, 50) is None


class _P:
    def __init__(self, org, org_type, scopes=()):
        self.organisation_id, self.org_type, self.scopes = org, org_type, frozenset(scopes)


def test_who_reads_what():
    corp = Reader.of(_P("corp-a", "corporation"))
    assert corp.sees_spend_of("corp-a") and not corp.sees_spend_of("corp-b")
    assert corp.sees_caseload and corp.corporation_scope() == "corp-a" and corp.partner_scope() is None
    police = Reader.of(_P("politie-amsterdam", "partner"))
    assert not police.sees_spend and not police.sees_caseload and police.partner_scope() == "politie-amsterdam"
    admin = Reader.of(_P("beheer", "admin", ["admin"]))
    assert admin.sees_spend_of("corp-b") and not admin.sees_caseload
    unscoped_admin = Reader.of(_P("beheer", "admin"))  # an admin-type token without the admin scope
    assert not unscoped_admin.sees_spend and unscoped_admin.partner_scope() == "beheer"
