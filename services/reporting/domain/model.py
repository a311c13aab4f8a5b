"""Reporting's rules: when a pattern in the figures is a signal worth telling people about.

Every count these functions get is already protected (domain/disclosure.py): a signal's
conditions and evidence are judged on published values, so that a signal appearing or
not tells no more than the figures themselves."""

from dataclasses import dataclass
from datetime import date

def family(category: str) -> str:
    return category.split(".", 1)[0]


@dataclass(frozen=True)
class Finding:
    kind: str
    scope: str
    buurt_code: str | None
    period_start: date
    period_end: date
    evidence: dict[str, float | int | str]
    summary: str
    building_ref: str | None = None  # a hotspot's building: kept in reporting, shown to its owners only
    owners: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.building_ref or self.scope}/{self.period_end.isoformat()}"


# Thresholds on protected counts (multiples of 5).
HOTSPOT_MIN_COMPLAINTS = 5
HOTSPOT_MIN_FAMILIES = 2
STUCK_MIN_CASES = 5
STUCK_RATIO = 2.0
SILENT_MIN_OBSERVATIONS = 5
SILENT_RISE = 1.5
ARREARS_MIN_CASES = 5
ARREARS_RISE = 1.5


def hotspot(building_ref: str, buurt: str, complaints: int, families: int, start: date, end: date,
            owners: tuple[str, ...] = ()) -> Finding | None:
    """Repeats at one building. The signal names the buurt; which building it is stays in
    reporting for the corporations that have cases there."""
    if complaints < HOTSPOT_MIN_COMPLAINTS or families < HOTSPOT_MIN_FAMILIES:
        return None
    return Finding("hotspot", buurt, buurt, start, end, {"complaints": complaints, "category_families": families},
                   f"{complaints} meldingen in {families} soorten over één gebouw in {buurt}",
                   building_ref=building_ref, owners=owners)


def stuck(buurt: str, category: str, median_days: float, cases: int, usual_median_days: float, usual_cases: int,
          start: date, end: date) -> Finding | None:
    if cases < STUCK_MIN_CASES or usual_cases < STUCK_MIN_CASES or usual_median_days <= 0:
        return None
    ratio = median_days / usual_median_days
    if ratio < STUCK_RATIO:
        return None
    return Finding("stuck", f"{buurt}/{category}", buurt, start, end,
                   {"median_days": round(median_days), "usual_median_days": round(usual_median_days),
                    "cases": cases, "ratio": round(ratio, 1)},
                   f"{category} in {buurt} duurt {ratio:.1f}x langer dan gewoonlijk")


def silent_decline(buurt: str, observations_now: int, observations_before: int, complaints_now: int,
                   complaints_before: int, start: date, end: date) -> Finding | None:
    rising = observations_now >= SILENT_MIN_OBSERVATIONS and observations_now >= SILENT_RISE * max(1, observations_before)
    quiet = complaints_now <= complaints_before
    if not (rising and quiet):
        return None
    return Finding("silent_decline", buurt, buurt, start, end,
                   {"observations": observations_now, "observations_before": observations_before,
                    "complaints": complaints_now, "complaints_before": complaints_before},
                   f"verwaarlozing neemt toe in {buurt} terwijl er weinig wordt geklaagd")


def arrears_trend(scope: str, buurt: str | None, arrears_now: int, cases_now: int, arrears_before: int,
                  cases_before: int, start: date, end: date) -> Finding | None:
    if arrears_now < ARREARS_MIN_CASES or cases_now == 0:
        return None
    share_now = arrears_now / cases_now
    share_before = arrears_before / cases_before if cases_before else 0.0
    if share_before and share_now < ARREARS_RISE * share_before:
        return None
    return Finding("arrears_trend", scope, buurt, start, end,
                   {"arrears_cases": arrears_now, "share": round(share_now, 3), "share_before": round(share_before, 3)},
                   f"aandeel huurachterstand stijgt in {scope}: {share_now:.0%} (was {share_before:.0%})")
