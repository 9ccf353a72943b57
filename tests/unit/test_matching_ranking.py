"""Ranking (crm/referrals/matching.py): the DOMAIN.md story, determinism, fee-blindness."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import random
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.referrals import matching, matching_filters, matching_scores
from crm.referrals.matching import Candidate, Match, MatchSettings, Needs, rank
from tests.unit.matching_factories import (
    NOW,
    SETTINGS,
    clinic,
    north_of_leeds,
    story_needs,
)

MANCHESTER = (53.48, -2.24)  # about 36 miles from Leeds
LONDON = (51.51, -0.13)  # about 170 miles


def outcome(matches: list[Match]) -> list[dict[str, Any]]:
    return [m.explanation() for m in matches]


# --- the story ----------------------------------------------------------------------------------


def story_network() -> list[Candidate]:
    return [
        clinic(1, "Dales Recovery — York"),
        clinic(
            2,
            "Pennine House — Manchester",
            point=MANCHESTER,
            capacity_confirmed_at=NOW - timedelta(days=20),
            rating="outstanding",
        ),
        clinic(3, "Harbour Clinic — Hull", substances=frozenset({"alcohol", "opioids"})),
        clinic(4, "Thames Lodge — London", point=LONDON),
        clinic(5, "Abbey Rehab — Harrogate", status="closed"),
        clinic(6, "Brothers Recovery — Leeds", single_sex="male_only"),
        clinic(7, "Moorside — Wakefield", dual_diagnosis=False),
        clinic(8, "Far North — Borders", point=north_of_leeds(200)),
    ]


def test_the_story_ranks_the_yorkshire_ketamine_clinic_first_and_says_why_others_are_out() -> None:
    matches = rank(story_needs(), story_network(), SETTINGS)
    eligible = [m for m in matches if m.eligible]
    assert [m.candidate.name for m in eligible] == [
        "Dales Recovery — York",
        "Pennine House — Manchester",
    ]
    first = eligible[0]
    assert (first.capacity, first.miles) == ("available", 22.1)
    assert eligible[1].capacity == "unknown"  # 3 weeks old: not counted as a free bed
    excluded = {m.candidate.name: m.excluded_because for m in matches if not m.eligible}
    assert excluded == {
        "Abbey Rehab — Harrogate": ("Closed: not taking referrals",),
        "Brothers Recovery — Leeds": ("Male-only unit; the client is female",),
        "Far North — Borders": ("200 miles away; the client will travel up to 60",),
        "Harbour Clinic — Hull": ("Does not treat ketamine",),
        "Moorside — Wakefield": ("No dual diagnosis; the client reports depression",),
        "Thames Lodge — London": ("169 miles away; the client will travel up to 60",),
    }
    # The excluded follow the eligible, by name.
    assert [m.candidate.name for m in matches[2:]] == sorted(excluded)


def test_alcohol_withdrawal_excludes_clinics_without_medical_detox() -> None:
    drinker = story_needs(
        primary_substance="alcohol", substances=("alcohol",), withdrawal=True, co_occurring=()
    )
    matches = rank(
        drinker,
        [
            clinic(1, "Rehab only", levels_of_care=frozenset({"residential_rehab"})),
            clinic(2, "Rehab and detox"),
        ],
        SETTINGS,
    )
    assert [(m.candidate.name, m.eligible) for m in matches] == [
        ("Rehab and detox", True),
        ("Rehab only", False),
    ]
    assert matches[1].excluded_because == (
        "No medical detox; alcohol withdrawal is dangerous without medical care",
    )


# --- determinism --------------------------------------------------------------------------------


def varied_network(seed: int, size: int = 60) -> list[Candidate]:
    rng = random.Random(seed)
    return [
        clinic(
            i,
            f"Clinic {rng.randint(1, 12):02d}",  # shared names: ties broken by id
            point=north_of_leeds(rng.choice([5, 12, 30, 30, 59, 61, 120])),
            status=rng.choice(["active", "active", "active", "paused"]),
            rating=rng.choice(["outstanding", "good", "good", None]),
            beds_available=rng.choice([None, 0, 1, 3]),
            capacity_confirmed_at=NOW - timedelta(days=rng.choice([0, 2, 9])),
            price_per_week_min=Decimal(rng.choice([900, 1400, 1600, 2400])),
            price_per_week_max=None,
            acceptance_rate=rng.choice([None, 0.5, 0.9]),
            owned_or_affiliated=rng.random() < 0.2,
        )
        for i in range(1, size + 1)
    ]


def test_shuffled_input_always_gives_the_same_ranking() -> None:
    network = varied_network(seed=5)
    expected = outcome(rank(story_needs(), network, SETTINGS))
    assert len({m["total"] for m in expected if m["eligible"]}) < sum(
        m["eligible"] for m in expected
    ), "the network should contain ties"
    rng = random.Random(1)
    for _ in range(50):
        shuffled = network[:]
        rng.shuffle(shuffled)
        assert outcome(rank(story_needs(), shuffled, SETTINGS)) == expected


def test_ties_are_broken_by_name_then_location_id() -> None:
    twins = [clinic(9, "Same"), clinic(3, "Same"), clinic(5, "Also same")]
    ranked = rank(story_needs(), twins, SETTINGS)
    assert [(m.candidate.name, m.candidate.location_id) for m in ranked] == [
        ("Also same", 5),
        ("Same", 3),
        ("Same", 9),
    ]
    closed = [dataclasses.replace(c, status="closed") for c in twins]
    assert [m.candidate.location_id for m in rank(story_needs(), closed, SETTINGS)] == [5, 3, 9]


candidates_strategy = st.lists(
    st.builds(
        clinic,
        location_id=st.integers(1, 10_000),
        name=st.sampled_from(["Alpha", "Beta", "Gamma"]),
        status=st.sampled_from(["active", "paused"]),
        point=st.none() | st.sampled_from([5.0, 40.0, 59.9, 70.0]).map(north_of_leeds),
        substances=st.frozensets(st.sampled_from(["ketamine", "cocaine", "alcohol"])),
        rating=st.sampled_from([None, "outstanding", "good", "inadequate"]),
        beds_available=st.none() | st.integers(0, 4),
        capacity_confirmed_at=st.none()
        | st.integers(0, 400).map(lambda hours: NOW - timedelta(hours=hours)),
        price_per_week_min=st.none() | st.sampled_from([Decimal(800), Decimal(1700)]),
        acceptance_rate=st.none() | st.floats(0, 1),
    ),
    max_size=25,
    unique_by=lambda c: c.location_id,
)


@settings(max_examples=150, deadline=None)
@given(candidates_strategy, st.randoms(use_true_random=False))
def test_ranking_is_a_function_of_the_candidates_not_their_order(
    candidates: list[Candidate], rng: random.Random
) -> None:
    ranked = rank(story_needs(), candidates, SETTINGS)
    shuffled = candidates[:]
    rng.shuffle(shuffled)
    assert outcome(rank(story_needs(), shuffled, SETTINGS)) == outcome(ranked)
    assert sorted(m.candidate.location_id for m in ranked) == sorted(
        c.location_id for c in candidates
    )
    flags = [m.eligible for m in ranked]
    assert flags == sorted(flags, reverse=True)
    totals = [m.total for m in ranked if m.eligible]
    assert totals == sorted(totals, reverse=True)
    for match in ranked:
        assert [f.name for f in match.filters] == list(matching.FILTER_ORDER)
        assert match.eligible == all(f.passed for f in match.filters)
        assert 0 <= match.total <= 100 and match.total == round(match.total, 1)


# --- the explanation snapshot -------------------------------------------------------------------


def test_the_explanation_is_json_ready_and_complete() -> None:
    match = rank(story_needs(), [clinic(acceptance_rate=0.75)], SETTINGS)[0]
    snapshot = match.explanation()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["total"] == match.total and snapshot["miles"] == 22.1
    assert (snapshot["capacity"], snapshot["eligible"]) == ("available", True)
    assert [f["name"] for f in snapshot["filters"]] == list(matching.FILTER_ORDER)
    assert snapshot["scores"][2] == {
        "name": "price",
        "points": 20.0,
        "weight": 20.0,
        "detail": "£1,200–£1,450 a week, within the £1,500 budget",
    }
    assert snapshot["facts"] == {
        "status": "active",
        "country": "GB",
        "rating": "good",
        "rating_date": "2025-06-01",
        "price_per_week_min": "1200",
        "price_per_week_max": "1450",
        "currency": "GBP",
        "beds_available": 2,
        "capacity_confirmed_at": "2026-11-25T07:00:00+00:00",
        "acceptance_rate": 0.75,
    }


# --- owned or affiliated: a label, never a ranking input ------------------------------------------


def test_owned_or_affiliated_changes_neither_eligibility_nor_score() -> None:
    network = varied_network(seed=9)
    flipped = [
        dataclasses.replace(c, owned_or_affiliated=not c.owned_or_affiliated) for c in network
    ]
    before = outcome(rank(story_needs(), network, SETTINGS))
    after = outcome(rank(story_needs(), flipped, SETTINGS))
    assert [m["owned_or_affiliated"] for m in after] == [
        not m["owned_or_affiliated"] for m in before
    ]
    for snapshot in (*before, *after):
        del snapshot["owned_or_affiliated"]
    assert after == before


# --- fee-blind by construction --------------------------------------------------------------------

FEE_WORDS = ("fee", "commission", "price_paid", "payment", "invoice", "ledger", "agreement")


def test_no_input_to_matching_can_carry_a_fee() -> None:
    for kind in (Needs, Candidate, MatchSettings):
        for field in dataclasses.fields(kind):
            assert not any(word in field.name for word in FEE_WORDS), (kind, field.name)
    assert [f.name for f in dataclasses.fields(MatchSettings)] == ["now", "capacity_stale_after"]


def test_rank_takes_only_needs_candidates_and_settings() -> None:
    parameters = inspect.signature(rank).parameters
    assert list(parameters) == ["needs", "candidates", "settings"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters.values())


def imported_modules(module: Any) -> set[str]:
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_matching_imports_only_the_standard_library_and_itself() -> None:
    own = {
        "crm.referrals.matching",
        "crm.referrals.matching_filters",
        "crm.referrals.matching_scores",
    }
    for module in (matching, matching_filters, matching_scores):
        imports = imported_modules(module)
        assert not any(name == "crm.fees" or name.startswith("crm.fees.") for name in imports)
        outside = {n for n in imports if n.split(".")[0] not in sys.stdlib_module_names} - own
        assert outside == set(), (module.__name__, outside)


def test_the_match_page_gets_each_exclusion_reason_with_its_first_clinics_and_its_count() -> None:
    from crm.referrals.admin import excluded_by_reason

    closed = [clinic(i, f"Closed {i:02}", status="closed") for i in range(1, 8)]
    far = [clinic(i, f"Far {i}", point=north_of_leeds(200)) for i in range(20, 23)]
    matches = rank(story_needs(), closed + far, SETTINGS)
    groups = excluded_by_reason([m for m in matches if not m.eligible], shown=5)
    assert [(reason, len(shown), count) for reason, shown, count in groups] == [
        ("status", 5, 7),
        ("distance", 3, 3),
    ]
    assert [m.candidate.name for m in groups[0][1]] == [f"Closed {i:02}" for i in range(1, 6)]
