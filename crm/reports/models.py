"""The report summaries: per-UK-day counts and value histograms of the leads, kept up to date by
the engine (crm/reports/summary.py), so a month or a quarter reads a few thousand rows instead of
every lead. They hold no names, contact details or health details: counts only, and lead ids in
``report_slowest`` (the slowest callbacks, which the report names by reference).

- ``report_counts``: per day of creation, source, campaign and in/out of hours, the number of
  leads in each counted set (``leads``, ``merged``, ``contacted``, ``reached:<stage>``,
  ``closed:<reason>``; ``repeat`` by the day the repeat request was received).
- ``report_values``: histograms of bucketed values (``speed`` minutes, ``heat`` minutes by
  weekday and hour, ``gap:<stage>`` hours from the previous stage), per day (grain ``d``) and per
  calendar month (grain ``m``, the sum of its days), so a long period reads whole months.
- ``report_slowest``: per day and source, the 20 slowest first callbacks.
- ``report_dirty_leads``: leads changed since the last refresh, written by database triggers on
  leads, stage changes and callback requests (every write path, bulk updates included).
- ``report_summary_state``: when the summaries were last refreshed (the page shows it).
- ``report_facts``: the referrals, on-call, staff and fees reports' counts and histograms per UK day
  of the event they count (a referral sent, a discharge, a page triggered, a reminder due, a
  message created, a call logged, an assessment completed, a ledger entry posted), per lead
  source and key (the clinic, the staff member, the provider; fee amounts in pence), per day
  (grain ``d``) and month (grain ``m``) (crm/reports/activity.py).
- ``report_dirty_rows``: referrals, calls, assessments, pages, reminders, messages and ledger
  entries changed
  since the last refresh, with the times they were on before the change, written by triggers.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Float, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import Base, UTCDateTime


class ReportCount(Base):
    __tablename__ = "report_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    in_hours: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class ReportValue(Base):
    __tablename__ = "report_values"

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)  # d: a day, m: a month
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    in_hours: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    cell: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # heat: weekday*24+hour
    value: Mapped[int] = mapped_column(Integer, primary_key=True)  # the bucket
    n: Mapped[int] = mapped_column(Integer)


class ReportSlowest(Base):
    __tablename__ = "report_slowest"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    lead_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minutes: Mapped[float] = mapped_column(Float)


class ReportDirtyLead(Base):
    __tablename__ = "report_dirty_leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(Integer)


class ReportFact(Base):
    __tablename__ = "report_facts"

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)  # d: a day, m: a month
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the day, or the month's first
    report: Mapped[str] = mapped_column(String(12), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)  # "": about no lead
    key: Mapped[int] = mapped_column(Integer, primary_key=True)  # clinic, staff member, or 0
    metric: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True)  # a bucket, an hour, or 0
    n: Mapped[int] = mapped_column(BigInteger)  # how many; for fees, an amount in pence


class ReportDirtyRow(Base):
    __tablename__ = "report_dirty_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # referral, call, assessment, page, ...
    ref_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the row's time then
    on_day: Mapped[date | None] = mapped_column(Date)  # a referral's discharge day then


class ReportSummaryState(Base):
    __tablename__ = "report_summary_state"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    days_refreshed: Mapped[int] = mapped_column(Integer, default=0)
    facts_built_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
