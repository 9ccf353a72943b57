"""UK postcodes and distances: normalising, postcode areas, approximate points, miles. Pure.

A location with its own latitude/longitude is placed exactly; one with only a UK postcode is
placed at its postcode area's main town (``data/postcode_areas.csv``), which is approximate:
an area can be 50+ miles across. That is good enough to rule out "200 miles away" and to rank
roughly by distance, which is what matching needs, without shipping the full postcode file.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

POSTCODE_HINT = "Enter a UK postcode, like LS1 4AP."
EARTH_RADIUS_MILES = 3958.8
# Outward code: area (1-2 letters), district (digit, then an optional digit or letter);
# inward code: a digit and two letters, never C, I, K, M, O or V (Royal Mail's rules).
_POSTCODE = re.compile(r"([A-Z]{1,2})([0-9][A-Z0-9]?)([0-9][ABD-HJLNP-UW-Z]{2})")
_SPACES = re.compile(r"[ \t]+")
MAX_POSTCODE_INPUT = 16

Point = tuple[float, float]


@dataclass(frozen=True)
class PostcodeArea:
    """One postcode area: its letters, main town, that town's point and region key."""

    area: str
    town: str
    latitude: float
    longitude: float
    region: str | None

    @property
    def point(self) -> Point:
        return (self.latitude, self.longitude)


@cache
def postcode_areas() -> dict[str, PostcodeArea]:
    """The shipped table of postcode areas, keyed by area letters ("LS")."""
    text = resources.files("crm.providers").joinpath("data/postcode_areas.csv").read_text("utf-8")
    lines = (line for line in io.StringIO(text) if not line.startswith("#"))
    areas = {}
    for row in csv.DictReader(lines):
        areas[row["area"]] = PostcodeArea(
            row["area"],
            row["town"],
            float(row["latitude"]),
            float(row["longitude"]),
            row["region"] or None,
        )
    return areas


def normalise_postcode(text: str) -> str:
    """A UK postcode in canonical form (``LS1 4AP``); ValueError with a message otherwise.

    Accepts any case and spacing ("ls14ap", " LS1  4AP "); refuses anything else, including
    an area that does not exist ("ZZ1 1AA").
    """
    if not isinstance(text, str) or len(text) > MAX_POSTCODE_INPUT or not text.isascii():
        raise ValueError(POSTCODE_HINT)
    compact = _SPACES.sub("", text.strip()).upper()
    match = _POSTCODE.fullmatch(compact)
    if match is None:
        raise ValueError(POSTCODE_HINT)
    area, district, inward = match.groups()
    if area not in postcode_areas():
        raise ValueError(f"{area} is not a UK postcode area. {POSTCODE_HINT}")
    return f"{area}{district} {inward}"


def postcode_area(postcode: str) -> str:
    """The area letters of a postcode ("LS" for "LS1 4AP"); ValueError if not a postcode."""
    canonical = normalise_postcode(postcode)
    return canonical[: 2 if canonical[1].isalpha() else 1]


def area_of(postcode: str | None) -> PostcodeArea | None:
    """The postcode area a postcode is in, or None when it is missing or not a UK postcode."""
    if not postcode:
        return None
    try:
        return postcode_areas()[postcode_area(postcode)]
    except ValueError:
        return None


def approximate_point(postcode: str | None) -> Point | None:
    """(latitude, longitude) of the postcode area's main town; None if no valid postcode."""
    found = area_of(postcode)
    return found.point if found is not None else None


def miles_between(a: Point, b: Point) -> float:
    """Great-circle distance in miles between two (latitude, longitude) points (haversine)."""
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(h)))
