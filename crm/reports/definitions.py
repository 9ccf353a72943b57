"""What every reported figure means: one place, used by the reports and the queue's dashboard
(DOMAIN.md "Speed to lead"), and printed under each figure. Pure: no Flask, no database.

- **A lead** is a lead record created in the period that was not merged into another as a
  duplicate (``merged_into_id`` is empty). Merged duplicates are counted on their own.
- **A request** is a callback request or logged enquiry received in the period; a *repeat
  request* is one attached to a lead that was already open.
- **Contacted**: the lead's first connected call (``first_contact_at``).
- **Speed to lead**: ``first_contact_at - created_at`` in minutes, for leads created in the
  period that have been contacted; "within target" means at most the callback target
  (``CALLBACK_TARGET_MINUTES``, 15 by default, the queue's countdown).
- **In hours / out of hours**: whether the office was open (office hours and closures, UK
  time) when the lead was created.
- **A cohort**: the leads created in the period; the funnel follows them to wherever they are
  now, so last month's cohort can still gain admissions.
- **Buckets**: reported speeds are whole minutes rounded up (14 min 10 s counts as 15), in steps
  of 10 minutes beyond an hour and of an hour beyond a day; times between stages are whole
  hours rounded up, in steps of a day beyond two days. Medians and percentiles are taken over
  these bucketed values (linear between the closest ranks), so summaries kept per day give
  exactly the figure a direct computation gives. "Within target" is exact for any target up to
  an hour (``ceil(m) <= t`` exactly when ``m <= t`` for a whole number ``t``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

DEFINITIONS = {
    "leads": "Leads created in the period, not counting those merged into another lead as "
    "duplicates.",
    "requests": "Callback requests and logged enquiries received in the period, repeats included.",
    "repeat_requests": "Requests attached to a lead that was already open (the person asked "
    "again before anyone closed their lead).",
    "merged": "Leads created in the period that staff merged into another lead as duplicates.",
    "in_hours": "Leads created while the office was open (office hours, UK time, less closures).",
    "out_of_hours": "Leads created while the office was closed: the on-call rota answers these.",
    "contacted": "Leads whose first connected call has been logged.",
    "speed_median": "Median minutes from the lead's creation to its first connected call, "
    "over the leads contacted.",
    "speed_p90": "90th percentile of the same (nine in ten were called back within it).",
    "within_target": "Share of contacted leads called back within the callback target.",
    "not_contacted": "Leads created in the period with no connected call yet (not in the "
    "speed figures).",
    "cohort": "The leads created in the period, followed to the furthest stage each reached.",
    "reached": "Leads of the cohort that entered this stage or a later one at any time.",
    "conversion": "Of the leads that reached the previous stage, the share that reached this one.",
    "stage_time": "Median hours from first entering the previous stage to first entering this "
    "one, over the leads that did both.",
    "closed": "Leads of the cohort now closed, by the reason recorded.",
}


def speed_minutes(created_at: datetime, first_contact_at: datetime) -> float:
    """Speed to lead in minutes; a call logged before the lead (back-dated) counts as zero."""
    return max(0.0, (first_contact_at - created_at).total_seconds() / 60)


def speed_bucket(minutes: float) -> int:
    """A speed to lead in its reported bucket (module docstring, "Buckets")."""
    whole = math.ceil(minutes)
    if whole <= 60:
        return whole
    if whole <= 24 * 60:
        return math.ceil(whole / 10) * 10
    return math.ceil(whole / 60) * 60


def gap_bucket(hours: float) -> int:
    """Hours between two stages in their reported bucket (module docstring, "Buckets")."""
    whole = math.ceil(hours)
    return whole if whole <= 48 else math.ceil(whole / 24) * 24


def percentile_of_counts(counts: Mapping[int, int], p: float) -> float | None:
    """``percentile`` of the values a histogram ({value: how many}) holds, without expanding it."""
    total = sum(n for n in counts.values() if n > 0)
    if not total:
        return None
    rank = (total - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    at_low = at_high = None
    seen = 0
    for value in sorted(v for v, n in counts.items() if n > 0):
        seen += counts[value]
        if at_low is None and seen > low:
            at_low = value
        if seen > high:
            at_high = value
            break
    if at_low is None or at_high is None:  # pragma: no cover - the walk always reaches both
        raise ValueError("histogram walk fell short")
    return at_low + (at_high - at_low) * (rank - low)


def share_at_most(counts: Mapping[int, int], target: int) -> float | None:
    """The share (0 to 1) of a histogram's values at most ``target``; None when empty."""
    total = sum(counts.values())
    if not total:
        return None
    return sum(n for v, n in counts.items() if v <= target) / total


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0 to 100), linear between the closest ranks; None when empty.

    The same rule PostgreSQL's ``percentile_cont`` uses, so SQL and Python agree."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def share_within(minutes: Sequence[float], target_minutes: int) -> float | None:
    """The share (0 to 1) of ``minutes`` at most ``target_minutes``; None when empty."""
    if not minutes:
        return None
    return sum(1 for m in minutes if m <= target_minutes) / len(minutes)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def change(current: float | None, previous: float | None) -> float | None:
    """The relative change from ``previous`` to ``current``; None when it means nothing."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous
