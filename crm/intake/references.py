"""Short human lead references, e.g. ``L-7K3F9Q``, easy to read out on the phone. Pure."""

from __future__ import annotations

import re
import secrets

# Crockford-style: no I, L, O, U, 0 or 1, which are misheard or misread.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6
_PATTERN = re.compile(rf"^L-[{ALPHABET}]{{{LENGTH}}}$")


def new_reference() -> str:
    return "L-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def parse_reference(text: str) -> str | None:
    """The canonical reference if ``text`` looks like one (any case, optional dash)."""
    compact = re.sub(r"[\s-]", "", text.strip().upper())
    candidate = "L-" + compact[1:] if compact.startswith("L") else ""
    return candidate if _PATTERN.match(candidate) else None
