"""Demo providers for development: the sample directory, imported as a manager would, plus
capacity confirmed for most of its locations, so the match page has clinics to show."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from config import ROOT
from crm import clock
from crm.extensions import db
from crm.privacy.services import Actor
from crm.providers import imports
from crm.providers.models import Provider, ProviderLocation

SAMPLE = ROOT / "docs" / "sample-providers.csv"
# regulator location id -> (beds, days since confirmed); the last is stale on purpose.
CAPACITY = {
    "1-201000001": (2, 1),
    "1-201000002": (1, 0),
    "1-201000004": (3, 2),
    "1-201000005": (0, 1),
    "1-201000010": (4, 0),
    "1-201000016": (1, 3),
    "CS2010000456": (2, 12),
}


def load_demo_providers(actor: Actor, sample: Path = SAMPLE) -> str:
    """Import the sample directory once (nothing happens if any provider exists)."""
    if db.session.scalar(select(Provider.id).limit(1)) is not None:
        return "providers: already there"
    if not sample.exists():
        return f"providers: {sample} is missing; none loaded"
    job = imports.start_import(sample.name, sample.read_bytes(), actor)
    prepared = imports.begin_import(job.id)
    while prepared is not None and imports.import_batch(prepared):
        pass
    now = clock.now()
    for key, (beds, days) in CAPACITY.items():
        location = db.session.scalar(
            select(ProviderLocation).where(ProviderLocation.regulator_location_id == key)
        )
        if location is not None:
            location.beds_available = beds
            location.capacity_confirmed_at = now - timedelta(days=days, hours=1)
            location.capacity_confirmed_by_id = actor.user_id
    return f"providers: {job.created} clinic locations from {sample.name}"
