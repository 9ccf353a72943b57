"""The intake, funnel and speed-to-lead reports, read from the report summaries
(crm/reports/summary.py) so a quarter reads a few thousand rows. Reads only.

Each ``*_report`` builds a Report for a period and the same-length period before it; each
``*_sets_for`` returns the lead sets the report's figures count, read live from the leads, for
the drill-down (crm/reports/leads.py builds both from the same rules).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select

from crm.extensions import db
from crm.intake.models import Lead
from crm.intake.stages import CLOSE_REASON_LABELS, PIPELINE, STAGE_LABELS, CloseReason, Stage
from crm.intake.vocabulary import SOURCES
from crm.oncall.wallclock import LONDON
from crm.reports import definitions as d
from crm.reports import summary
from crm.reports.leads import Filters, funnel_sets, intake_sets, lead_rows, repeat_requests
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period, buckets, week_of

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Counts = dict[tuple[Any, ...], int]


def _stage_label(stage: str) -> str:
    return STAGE_LABELS[Stage(stage)] if stage in {s.value for s in Stage} else stage


def _bucket_label(day: object, grain: str) -> str:
    return f"{day:%a %d %b}" if grain == "day" else f"w/c {day:%d %b}"


def _sum(counts: Counts, metric: str, at: int | None = None, value: Any = None) -> int:
    """The total of ``metric``, or of its entries whose key holds ``value`` at position ``at``."""
    return sum(
        n for key, n in counts.items() if key[0] == metric and (at is None or key[at] == value)
    )


# --- intake ------------------------------------------------------------------------------------


def intake_sets_for(period: Period, filters: Filters, target_minutes: int) -> dict[str, list[int]]:
    grain, _ = buckets(period)
    rows = lead_rows(period, filters)
    sets = intake_sets(rows, target_minutes, grain)
    sets["repeat"] = sorted(repeat_requests(period, filters))
    return sets


def _by_day(period: Period, source: str | None) -> dict[date, int]:
    """Leads per bucket of the period's grain (UK days, or weeks from Monday)."""
    grain, _ = buckets(period)
    out: dict[date, int] = defaultdict(int)
    for (metric, day), n in summary.counts(period, source, ("day",)).items():
        if metric == "leads":
            out[day if grain == "day" else week_of(day)] += n
    return out


def intake_report(period: Period, filters: Filters, target_minutes: int) -> Report:
    del target_minutes  # the intake figures count leads; the speed report uses the target
    report = summary.summarised_report("intake", "Intake", period)
    by = ("source", "campaign", "in_hours")
    now, before = (
        summary.counts(period, filters.source, by),
        summary.counts(report.previous, filters.source, by),
    )

    def figure(key: str, label: str, metric: str, drill: str | None, **match: Any) -> Figure:
        at, value = (3, match["in_hours"]) if match else (None, None)
        return Figure(
            key,
            label,
            _sum(now, metric, at, value),
            _sum(before, metric, at, value),
            "count",
            d.DEFINITIONS[key if key in d.DEFINITIONS else metric],
            drill,
        )

    report.figures = [
        figure("leads", "Leads", "leads", "leads"),
        figure("repeat_requests", "Repeat requests", "repeat", None),
        figure("merged", "Duplicates merged", "merged", "merged"),
        figure("in_hours", "In hours", "leads", "in_hours", in_hours=True),
        figure("out_of_hours", "Out of hours", "leads", "out_of_hours", in_hours=False),
    ]
    sources = [s for s in SOURCES if _sum(now, "leads", 1, s) or _sum(before, "leads", 1, s)]
    report.tables.append(
        Table(
            "by_source",
            "Leads by source",
            ["Source", "Leads", "Previous period"],
            [[SOURCES[s], _sum(now, "leads", 1, s), _sum(before, "leads", 1, s)] for s in sources],
            d.DEFINITIONS["leads"],
            [[None, f"source:{s}", None] for s in sources],
            ["text", "count", "count"],
        )
    )
    campaigns = sorted({key[2] for key in now if key[0] == "leads"})
    report.tables.append(
        Table(
            "by_campaign",
            "Leads by campaign (utm_campaign)",
            ["Campaign", "Leads", "Previous period"],
            [[c, _sum(now, "leads", 2, c), _sum(before, "leads", 2, c)] for c in campaigns],
            "The campaign the website passed with the request; (none) when it passed none.",
            [[None, f"campaign:{c}", None] for c in campaigns],
            ["text", "count", "count"],
        )
    )
    grain, days = buckets(period)
    per_day = _by_day(period, filters.source)
    rows: list[list[Cell]] = [[_bucket_label(day, grain), per_day.get(day, 0)] for day in days]
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
                    [_sum(now, "leads", 1, s) for s in sources],
                    [f"source:{s}" for s in sources],
                ),
                Series("Previous period", [_sum(before, "leads", 1, s) for s in sources]),
            ],
            "by_source",
        )
    )
    return report


# --- funnel ------------------------------------------------------------------------------------


def funnel_report(period: Period, filters: Filters) -> Report:
    report = summary.summarised_report("funnel", "Funnel", period)
    now = summary.counts(period, filters.source, ())
    before = summary.counts(report.previous, filters.source, ())
    gaps = {
        stage: summary.histogram(period, filters.source, f"gap:{stage}").get((), {})
        for stage in [s.value for s in PIPELINE][1:]
    }

    def count(counts: Counts, metric: str) -> int:
        return counts.get((metric,), 0)

    stages = [s.value for s in PIPELINE]
    report.figures = [
        Figure(
            "leads",
            "Cohort",
            count(now, "leads"),
            count(before, "leads"),
            "count",
            d.DEFINITIONS["cohort"],
            "leads",
        ),
        Figure(
            "admitted",
            "Admitted",
            count(now, "reached:admitted"),
            count(before, "reached:admitted"),
            "count",
            d.DEFINITIONS["reached"],
            "reached:admitted",
        ),
        Figure(
            "admitted_share",
            "Admitted, share of the cohort",
            d.rate(count(now, "reached:admitted"), count(now, "leads")),
            d.rate(count(before, "reached:admitted"), count(before, "leads")),
            "share",
            "Admitted leads of the cohort over the cohort.",
        ),
    ]
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for i, stage in enumerate(stages):
        here = count(now, f"reached:{stage}")
        prior = count(now, f"reached:{stages[i - 1]}") if i else None
        rows.append(
            [
                STAGE_LABELS[Stage(stage)],
                here,
                count(before, f"reached:{stage}"),
                d.rate(here, prior) if prior is not None else None,
                d.percentile_of_counts(gaps[stage], 50) if i else None,
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
    shown = [r for r in reasons if count(now, f"closed:{r}") or count(before, f"closed:{r}")]
    report.tables.append(
        Table(
            "closed",
            "Closed, by reason",
            ["Reason", "Leads", "Previous period"],
            [
                [
                    CLOSE_REASON_LABELS[CloseReason(r)],
                    count(now, f"closed:{r}"),
                    count(before, f"closed:{r}"),
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


def _speed_figures(histogram: dict[int, int], target: int) -> dict[str, float | None]:
    return {
        "median": d.percentile_of_counts(histogram, 50),
        "p90": d.percentile_of_counts(histogram, 90),
        "within": d.share_at_most(histogram, target),
    }


def _merge(parts: Any) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for part in parts:
        for value, n in part.items():
            out[value] += n
    return out


def _slowest_rows(period: Period, source: str | None) -> list[list[Cell]]:
    found = summary.slowest(period, source)
    leads = {
        lead.id: lead
        for lead in db.session.execute(
            select(Lead.id, Lead.reference, Lead.created_at, Lead.stage).where(
                Lead.id.in_([lead_id for lead_id, _ in found])
            )
        )
    }
    return [
        [
            leads[lead_id].reference,
            f"{leads[lead_id].created_at.astimezone(LONDON):%d %b %H:%M}",
            round(minutes, 1),
            _stage_label(leads[lead_id].stage),
        ]
        for lead_id, minutes in found
        if lead_id in leads
    ]


def speed_report(period: Period, filters: Filters, target_minutes: int) -> Report:
    report = summary.summarised_report("speed", "Speed to lead", period)
    source = filters.source
    split = summary.histogram(period, source, "speed", ("in_hours",))
    split_before = summary.histogram(report.previous, source, "speed", ("in_hours",))
    now = summary.counts(period, source, ("in_hours",))
    before = summary.counts(report.previous, source, ())
    now_f = _speed_figures(_merge(split.values()), target_minutes)
    before_f = _speed_figures(_merge(split_before.values()), target_minutes)
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
            _sum(now, "contacted"),
            before.get(("contacted",), 0),
            "count",
            d.DEFINITIONS["contacted"],
            "contacted",
        ),
        Figure(
            "not_contacted",
            "Not yet contacted",
            _sum(now, "not_contacted"),
            before.get(("not_contacted",), 0),
            "count",
            d.DEFINITIONS["not_contacted"],
            "not_contacted",
        ),
    ]
    rows: list[list[Cell]] = []
    for label, in_hours in (("In hours", True), ("Out of hours", False)):
        f = _speed_figures(split.get((in_hours,), {}), target_minutes)
        rows.append([label, _sum(now, "leads", 1, in_hours), f["median"], f["p90"], f["within"]])
    report.tables.append(
        Table(
            "hours",
            "In hours against out of hours",
            ["When", "Leads", "Median minutes", "p90 minutes", "Within target"],
            rows,
            d.DEFINITIONS["in_hours"] + " " + d.DEFINITIONS["out_of_hours"],
            [[None, "in_hours", None, None, None], [None, "out_of_hours", None, None, None]],
            ["text", "count", "minutes", "minutes", "share"],
        )
    )
    cells = summary.histogram(period, source, "heat", ("cell",))
    heat: list[list[Cell]] = [
        [
            WEEKDAYS[w],
            *[d.percentile_of_counts(cells.get((w * 24 + h,), {}), 50) for h in range(24)],
        ]
        for w in range(7)
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
    report.tables.append(
        Table(
            "slowest",
            "The slowest 20",
            ["Lead", "Created (UK)", "Minutes", "Stage"],
            _slowest_rows(period, source),
            "The contacted leads of the period that waited longest for their first call "
            "(minutes to the tenth, not bucketed).",
            None,
            ["lead", "text", "minutes", "text"],
        )
    )
    report.charts.append(
        Chart(
            "hours",
            "Median minutes: in hours against out of hours",
            "bar",
            [str(r[0]) for r in rows],
            [Series("Median minutes", [r[2] for r in rows])],
            "hours",
        )
    )
    return report


def speed_sets_for(period: Period, filters: Filters, target_minutes: int) -> dict[str, list[int]]:
    return intake_sets(lead_rows(period, filters), target_minutes)
