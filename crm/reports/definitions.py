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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
