"""The intake, funnel and speed-to-lead reports. Reads only.

Each ``*_report`` builds a Report for a period and the same-length period before it; each
``*_sets`` returns the lead sets the report's figures count, for the drill-down.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from crm import clock
from crm.intake.stages import CLOSE_REASON_LABELS, PIPELINE, STAGE_LABELS, CloseReason, Stage
from crm.intake.vocabulary import SOURCES
from crm.oncall.wallclock import LONDON
from crm.reports import definitions as d
from crm.reports.leads import Filters, LeadRow, funnel_sets, intake_sets, lead_rows, repeat_requests
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period, buckets

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _stage_label(stage: str) -> str:
    return STAGE_LABELS[Stage(stage)] if stage in {s.value for s in Stage} else stage


def _count(sets: dict[str, list[int]], key: str) -> int:
    return len(sets.get(key, []))


def _bucket_label(day: object, grain: str) -> str:
    return f"{day:%a %d %b}" if grain == "day" else f"w/c {day:%d %b}"


# --- intake ------------------------------------------------------------------------------------


def intake_sets_for(period: Period, filters: Filters, target_minutes: int) -> dict[str, list[int]]:
    grain, _ = buckets(period)
    rows = lead_rows(period, filters)
    sets = intake_sets(rows, target_minutes, grain)
    sets["repeat"] = sorted(repeat_requests(period, filters))
    return sets


def intake_report(period: Period, filters: Filters, target_minutes: int) -> Report:
    now = clock.now()
    previous = period.previous()
    sets = intake_sets_for(period, filters, target_minutes)
    before = intake_sets_for(previous, filters, target_minutes)
    repeats = repeat_requests(period, filters)
    repeats_before = repeat_requests(previous, filters)
    report = Report("intake", "Intake", period, previous, now)
    report.figures = [
        Figure(
            "leads",
            "Leads",
            _count(sets, "leads"),
            _count(before, "leads"),
            "count",
            d.DEFINITIONS["leads"],
            "leads",
        ),
        Figure(
            "repeat_requests",
            "Repeat requests",
            sum(repeats.values()),
            sum(repeats_before.values()),
            "count",
            d.DEFINITIONS["repeat_requests"],
            None,
        ),
        Figure(
            "merged",
            "Duplicates merged",
            _count(sets, "merged"),
            _count(before, "merged"),
            "count",
            d.DEFINITIONS["merged"],
            "merged",
        ),
        Figure(
            "in_hours",
            "In hours",
            _count(sets, "in_hours"),
            _count(before, "in_hours"),
            "count",
            d.DEFINITIONS["in_hours"],
            "in_hours",
        ),
        Figure(
            "out_of_hours",
            "Out of hours",
            _count(sets, "out_of_hours"),
            _count(before, "out_of_hours"),
            "count",
            d.DEFINITIONS["out_of_hours"],
            "out_of_hours",
        ),
    ]
    sources = [s for s in SOURCES if _count(sets, f"source:{s}") or _count(before, f"source:{s}")]
    report.tables.append(
        Table(
            "by_source",
            "Leads by source",
            ["Source", "Leads", "Previous period"],
            [
                [SOURCES[s], _count(sets, f"source:{s}"), _count(before, f"source:{s}")]
                for s in sources
            ],
            d.DEFINITIONS["leads"],
            [[None, f"source:{s}", None] for s in sources],
            ["text", "count", "count"],
        )
    )
    campaigns = sorted({k.split(":", 1)[1] for k in sets if k.startswith("campaign:")})
    report.tables.append(
        Table(
            "by_campaign",
            "Leads by campaign (utm_campaign)",
            ["Campaign", "Leads", "Previous period"],
            [
                [c, _count(sets, f"campaign:{c}"), _count(before, f"campaign:{c}")]
                for c in campaigns
            ],
            "The campaign the website passed with the request; (none) when it passed none.",
            [[None, f"campaign:{c}", None] for c in campaigns],
            ["text", "count", "count"],
        )
    )
    grain, days = buckets(period)
    rows: list[list[Cell]] = [
        [_bucket_label(day, grain), _count(sets, f"{grain}:{day.isoformat()}")] for day in days
    ]
    report.tables.append(
        Table(
            "by_day",
            "Leads by day" if grain == "day" else "Leads by week (weeks start on Monday)",
            ["Day" if grain == "day" else "Week", "Leads"],
            rows,
            "Bucketed by the UK calendar day the lead was created.",
            [[None, f"{grain}:{day.isoformat()}"] for day in days],
            ["text", "count"],
        )
    )
    report.charts.append(
        Chart(
            "by_day",
            report.tables[-1].title,
            "bar",
            [str(r[0]) for r in rows],
            [Series("Leads", [r[1] for r in rows], [f"{grain}:{day.isoformat()}" for day in days])],
            "by_day",
        )
    )
    report.charts.append(
        Chart(
            "by_source",
            "Leads by source",
            "bar",
            [SOURCES[s] for s in sources],
            [
                Series(
                    "This period",
                    [_count(sets, f"source:{s}") for s in sources],
                    [f"source:{s}" for s in sources],
                ),
                Series("Previous period", [_count(before, f"source:{s}") for s in sources]),
            ],
            "by_source",
        )
    )
    return report


# --- funnel ------------------------------------------------------------------------------------


def _median_hours(
    cohort: list[int], entries: dict[int, dict[str, datetime]], a: str, b: str
) -> float | None:
    gaps = [
        max(0.0, (e[b] - e[a]).total_seconds() / 3600)
        for lead_id in cohort
        if a in (e := entries.get(lead_id, {})) and b in e
    ]
    return d.median(gaps)


def funnel_report(period: Period, filters: Filters) -> Report:
    now = clock.now()
    previous = period.previous()
    sets, entries = funnel_sets(lead_rows(period, filters))
    before, _ = funnel_sets(lead_rows(previous, filters))
    report = Report("funnel", "Funnel", period, previous, now)
    stages = [s.value for s in PIPELINE]
    report.figures = [
        Figure(
            "leads",
            "Cohort",
            _count(sets, "leads"),
            _count(before, "leads"),
            "count",
            d.DEFINITIONS["cohort"],
            "leads",
        ),
        Figure(
            "admitted",
            "Admitted",
            _count(sets, "reached:admitted"),
            _count(before, "reached:admitted"),
            "count",
            d.DEFINITIONS["reached"],
            "reached:admitted",
        ),
        Figure(
            "admitted_share",
            "Admitted, share of the cohort",
            d.rate(_count(sets, "reached:admitted"), _count(sets, "leads")),
            d.rate(_count(before, "reached:admitted"), _count(before, "leads")),
            "share",
            "Admitted leads of the cohort over the cohort.",
        ),
    ]
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for i, stage in enumerate(stages):
        here = _count(sets, f"reached:{stage}")
        prior = _count(sets, f"reached:{stages[i - 1]}") if i else None
        rows.append(
            [
                STAGE_LABELS[Stage(stage)],
                here,
                _count(before, f"reached:{stage}"),
                d.rate(here, prior) if prior is not None else None,
                _median_hours(sets.get(f"reached:{stage}", []), entries, stages[i - 1], stage)
                if i
                else None,
            ]
        )
        drills.append([None, f"reached:{stage}", None, None, None])
    report.tables.append(
        Table(
            "stages",
            "Stages reached by the cohort",
            ["Stage", "Leads", "Previous period", "Conversion", "Median hours from previous"],
            rows,
            d.DEFINITIONS["reached"]
            + " "
            + d.DEFINITIONS["conversion"]
            + " "
            + d.DEFINITIONS["stage_time"],
            drills,
            ["text", "count", "count", "share", "hours"],
        )
    )
    reasons = [r.value for r in CloseReason]
    shown = [r for r in reasons if _count(sets, f"closed:{r}") or _count(before, f"closed:{r}")]
    report.tables.append(
        Table(
            "closed",
            "Closed, by reason",
            ["Reason", "Leads", "Previous period"],
            [
                [
                    CLOSE_REASON_LABELS[CloseReason(r)],
                    _count(sets, f"closed:{r}"),
                    _count(before, f"closed:{r}"),
                ]
                for r in shown
            ],
            d.DEFINITIONS["closed"],
            [[None, f"closed:{r}", None] for r in shown],
            ["text", "count", "count"],
        )
    )
    report.charts.append(
        Chart(
            "stages",
            "Stages reached by the cohort",
            "bar",
            [str(r[0]) for r in rows],
            [
                Series("This period", [r[1] for r in rows], [f"reached:{s}" for s in stages]),
                Series("Previous period", [r[2] for r in rows]),
            ],
            "stages",
        )
    )
    return report


def funnel_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    return funnel_sets(lead_rows(period, filters))[0]


# --- speed to lead -----------------------------------------------------------------------------


def _speed_figures(rows: list[LeadRow], target: int) -> dict[str, float | None]:
    speeds = [s for r in rows if not r.merged and (s := r.speed) is not None]
    return {
        "median": d.median(speeds),
        "p90": d.percentile(speeds, 90),
        "within": d.share_within(speeds, target),
    }


def speed_report(period: Period, filters: Filters, target_minutes: int) -> Report:
    now = clock.now()
    previous = period.previous()
    rows = lead_rows(period, filters)
    rows_before = lead_rows(previous, filters)
    sets = intake_sets(rows, target_minutes)
    before = intake_sets(rows_before, target_minutes)
    now_f, before_f = (
        _speed_figures(rows, target_minutes),
        _speed_figures(rows_before, target_minutes),
    )
    report = Report("speed", "Speed to lead", period, previous, now)
    report.notes.append(
        f"The callback target is {target_minutes} minutes (CALLBACK_TARGET_MINUTES)."
    )
    report.figures = [
        Figure(
            "median",
            "Median",
            now_f["median"],
            before_f["median"],
            "minutes",
            d.DEFINITIONS["speed_median"],
        ),
        Figure(
            "p90",
            "90th percentile",
            now_f["p90"],
            before_f["p90"],
            "minutes",
            d.DEFINITIONS["speed_p90"],
        ),
        Figure(
            "within",
            f"Within {target_minutes} minutes",
            now_f["within"],
            before_f["within"],
            "share",
            d.DEFINITIONS["within_target"],
        ),
        Figure(
            "contacted",
            "Contacted",
            _count(sets, "contacted"),
            _count(before, "contacted"),
            "count",
            d.DEFINITIONS["contacted"],
            "contacted",
        ),
        Figure(
            "not_contacted",
            "Not yet contacted",
            _count(sets, "not_contacted"),
            _count(before, "not_contacted"),
            "count",
            d.DEFINITIONS["not_contacted"],
            "not_contacted",
        ),
    ]
    split: list[list[Cell]] = []
    for label, in_hours in (("In hours", True), ("Out of hours", False)):
        part = [r for r in rows if r.in_hours is in_hours]
        f = _speed_figures(part, target_minutes)
        split.append(
            [label, len([r for r in part if not r.merged]), f["median"], f["p90"], f["within"]]
        )
    report.tables.append(
        Table(
            "hours",
            "In hours against out of hours",
            ["When", "Leads", "Median minutes", "p90 minutes", "Within target"],
            split,
            d.DEFINITIONS["in_hours"] + " " + d.DEFINITIONS["out_of_hours"],
            [[None, "in_hours", None, None, None], [None, "out_of_hours", None, None, None]],
            ["text", "count", "minutes", "minutes", "share"],
        )
    )
    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    for r in rows:
        if not r.merged and (s := r.speed) is not None:
            local = r.created_at.astimezone(LONDON)
            cells[(local.weekday(), local.hour)].append(s)
    heat: list[list[Cell]] = [
        [WEEKDAYS[w], *[d.median(cells.get((w, h), [])) for h in range(24)]] for w in range(7)
    ]
    report.tables.append(
        Table(
            "heatmap",
            "Median minutes to first contact, by weekday and hour (UK time)",
            ["Day", *[f"{h:02d}" for h in range(24)]],
            heat,
            "Each cell: the median speed to lead of the leads created in that hour of that "
            "weekday; blank where there were none.",
            None,
            ["text", *["minutes"] * 24],
        )
    )
    slowest = sorted(
        (r for r in rows if not r.merged and r.speed is not None),
        key=lambda r: (-(r.speed or 0), r.id),
    )[:20]
    report.tables.append(
        Table(
            "slowest",
            "The slowest 20",
            ["Lead", "Created (UK)", "Minutes", "Stage"],
            [
                [
                    r.reference,
                    f"{r.created_at.astimezone(LONDON):%d %b %H:%M}",
                    r.speed,
                    _stage_label(r.stage),
                ]
                for r in slowest
            ],
            "The contacted leads of the period that waited longest for their first call.",
            None,
            ["lead", "text", "minutes", "text"],
        )
    )
    report.charts.append(
        Chart(
            "hours",
            "Median minutes: in hours against out of hours",
            "bar",
            [str(r[0]) for r in split],
            [Series("Median minutes", [r[2] for r in split])],
            "hours",
        )
    )
    return report


def speed_sets_for(period: Period, filters: Filters, target_minutes: int) -> dict[str, list[int]]:
    return intake_sets(lead_rows(period, filters), target_minutes)
