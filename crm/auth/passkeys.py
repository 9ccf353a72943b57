"""Passkeys (WebAuthn) as a second factor: registering several, naming and removing them,
and signing in with one. The ceremony's challenge is kept by the view (in the signed session)
and checked here with the relying party's id and origin. Services: they never commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from crm import clock
from crm.auth import factors
from crm.auth.models import Passkey, User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.services import Actor, record_audit_event
from crm.validation import clean_text

RP_NAME = "Admissions CRM"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys belong to: the host of PUBLIC_BASE_URL, and its origin."""

    rp_id: str
    origin: str

    @classmethod
    def from_base_url(cls, base_url: str) -> RelyingParty:
        parts = urlsplit(base_url)
        return cls(parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}")


def _descriptors(user_id: int) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
        for p in db.session.scalars(select(Passkey).where(Passkey.user_id == user_id))
    ]


def registration_options(user: User, rp: RelyingParty) -> tuple[str, str]:
    """The browser's options (JSON) and the challenge to keep until the answer comes."""
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=RP_NAME,
        user_id=str(user.id).encode(),
        user_name=user.email,
        user_display_name=user.name,
        exclude_credentials=_descriptors(user.id),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return options_to_json(options), bytes_to_base64url(options.challenge)


def _refuse(actor: Actor, action: str, user_id: int, why: str) -> DomainError:
    record_audit_event(
        actor, action, outcome="failure", object_type="users", object_id=user_id,
        detail=f"passkey: {why}"[:200],
    )  # fmt: skip
    return DomainError(why)


def register(
    user_id: int,
    response: str | None,
    challenge: str | None,
    name: str | None,
    rp: RelyingParty,
    actor: Actor,
) -> Passkey:
    """Check the browser's answer against the challenge, origin and relying party; store it."""
    try:
        label = clean_text(name, label="Name", max_length=60, required=False) or "Passkey"
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    if not challenge:
        raise _refuse(actor, "factor_added", user_id, "No passkey registration is in progress.")
    try:
        verified = verify_registration_response(
            credential=_parsed(response),
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
        raise _refuse(
            actor, "factor_added", user_id, f"The passkey was not accepted ({exc})."
        ) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise _refuse(actor, "factor_added", user_id, "This passkey is already registered.")
    row = Passkey(
        user_id=user_id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=label,
        transports=[],
        created_at=clock.now(),
    )
    db.session.add(row)
    db.session.flush()
    record_audit_event(
        actor, "factor_added", object_type="users", object_id=user_id, detail=f"passkey {row.id}"
    )
    return row


def _parsed(response: str | None) -> dict[str, Any]:
    data = json.loads(response or "")
    if not isinstance(data, dict):
        raise ValueError("not a credential")
    return data


def authentication_options(user_id: int, rp: RelyingParty) -> tuple[str, str]:
    allowed = _descriptors(user_id)
    if not allowed:
        raise DomainError("No passkey is registered for this account.")
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), bytes_to_base64url(options.challenge)


def sign_in(
    user_id: int,
    session_id: str,
    response: str | None,
    challenge: str | None,
    rp: RelyingParty,
    actor: Actor,
) -> None:
    """A passkey as the second step: it must be this person's, answer this challenge, on
    this origin; its signature counter must move on (a cloned key's would not)."""
    if not challenge:
        raise _refuse(actor, "second_factor", user_id, "No passkey sign-in is in progress.")
    try:
        data = _parsed(response)
        row = db.session.scalar(
            select(Passkey).where(
                Passkey.credential_id == str(data.get("id", "")), Passkey.user_id == user_id
            )
        )
        if row is None:
            raise _refuse(actor, "second_factor", user_id, "This passkey is not registered to you.")
        verified = verify_authentication_response(
            credential=data,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
        raise _refuse(
            actor, "second_factor", user_id, f"The passkey was not accepted ({exc})."
        ) from None
    row.sign_count, row.last_used_at = verified.new_sign_count, clock.now()
    factors.mark_passed(session_id, user_id, "passkey")
    record_audit_event(
        actor, "second_factor", object_type="users", object_id=user_id, detail=f"passkey {row.id}"
    )


def remove(user_id: int, passkey_id: int, policy: factors.Policy, actor: Actor) -> None:
    row = db.session.get(Passkey, passkey_id)
    if row is None or row.user_id != user_id:
        raise DomainError("No such passkey.", ErrorKind.NOT_FOUND)
    factors.check_not_last(user_id, "passkey", policy)
    db.session.execute(delete(Passkey).where(Passkey.id == passkey_id))
    record_audit_event(
        actor, "factor_removed", object_type="users", object_id=user_id,
        detail=f"passkey {passkey_id}",
    )  # fmt: skip
