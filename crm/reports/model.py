"""The shape every report has: headline figures beside the previous period, tables, and charts
drawn from those tables. Pure: no Flask, no database.

A figure that counts leads carries the key of the lead set it counts (``drill``); the
drill-down lists that very set, so the list's length is the figure by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from crm.reports.periods import Period

Cell = str | int | float | Decimal | date | None


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float | int | Decimal | None
    previous: float | int | Decimal | None
    unit: str  # count | share | minutes | hours | money
    definition: str
    drill: str | None = None  # the lead set it counts
    currency: str | None = None


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    definition: str = ""
    # Per row, per column: the lead set a cell counts (None where it counts no leads).
    drills: list[list[str | None]] | None = None
    units: list[str] | None = None  # per column: count | share | minutes | text ...

    def drill(self, row: int, column: int) -> str | None:
        if self.drills is None or row >= len(self.drills) or column >= len(self.drills[row]):
            return None
        return self.drills[row][column]


@dataclass(frozen=True)
class Series:
    label: str
    values: list[Cell]
    drills: list[str | None] | None = None


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    kind: str  # bar | line | stacked
    labels: list[str]
    series: list[Series]
    table: str  # the key of the table with the same numbers


@dataclass
class Report:
    key: str
    title: str
    period: Period
    previous: Period
    as_of: datetime
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    summarised: bool = False  # read from the report summaries (crm/reports/summary.py)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)

    def drill_keys(self) -> set[str]:
        """Every lead set a figure, a table cell or a chart segment of this report counts."""
        keys = {f.drill for f in self.figures}
        keys |= {k for t in self.tables for row in (t.drills or []) for k in row}
        keys |= {k for c in self.charts for s in c.series for k in (s.drills or [])}
        return {k for k in keys if k}
