"""The heartbeat row the engine tick writes, so /healthz can tell a stalled clock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import Base


class Heartbeat(Base):
    """The last time a periodic process proved it is alive."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    beat_at: Mapped[datetime]
    beats: Mapped[int] = mapped_column(default=0)
