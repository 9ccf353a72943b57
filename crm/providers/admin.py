"""Back-office screens for the provider network: lists, provider and location pages, capacity.

Every staff member can look providers up and confirm a clinic's beds (they are the ones on the
phone to it); managers and admins add and edit them (``crm.providers.edit_admin``) and import
the directory (``crm.providers.import_admin``). Owned/affiliated providers are labelled on
every screen here, as they must be disclosed to clients.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import String, cast, false, select
from sqlalchemy.orm import joinedload

from crm import clock
from crm.admin.secure import SecureBaseView, SecureModelView
from crm.auth.models import User
from crm.auth.permissions import Permission, has_permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.admin import provider_fee_section
from crm.intake.vocabulary import MENTAL_HEALTH, REGIONS, SUBSTANCES
from crm.privacy.services import record_audit_event
from crm.providers import services, vocabulary
from crm.providers.capacity import CapacityNote, capacity_note
from crm.providers.forms import CapacityForm
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.lifecycle import STATUS_LABELS
from crm.referrals.queries import provider_history
from crm.requestctx import current_actor

CATEGORY = "Providers"
LABELS = {
    "levels_of_care": vocabulary.LEVELS_OF_CARE,
    "substances": SUBSTANCES,
    "mental_health_accepted": MENTAL_HEALTH,
    "funding_accepted": vocabulary.FUNDING_ACCEPTED,
    "regulator": vocabulary.REGULATORS,
    "status": vocabulary.PROVIDER_STATUSES,
    "contract_status": vocabulary.CONTRACT_STATUSES,
    "single_sex": vocabulary.SINGLE_SEX,
    "rating": vocabulary.RATINGS,
    "region": REGIONS,
}


def can(permission: Permission) -> bool:
    return bool(current_user.is_authenticated and has_permission(current_user.role, permission))


def stale_days() -> int:
    return int(current_app.config["CRM_SETTINGS"].capacity_stale_days)


def note_for(location: ProviderLocation, confirmed_by: str | None = None) -> CapacityNote:
    return capacity_note(
        location.beds_available,
        location.capacity_confirmed_at,
        confirmed_by,
        clock.now(),
        stale_days(),
    )


_OWNED = Markup('<span class="badge badge-warning" data-testid="owned-label">{}</span>').format(
    vocabulary.OWNED_LABEL
)
_STATUS_COLOURS = {"active": "success", "paused": "secondary", "closed": "dark"}


def _owned_badge(owned: bool) -> Markup:
    return Markup(" {}").format(_OWNED) if owned else Markup("")


def _status_badge(status: str) -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(
        _STATUS_COLOURS.get(status, "light"), vocabulary.PROVIDER_STATUSES.get(status, status)
    )


def _provider_name(view: Any, context: Any, model: Provider, name: str) -> Markup:
    url = url_for("provider_directory.provider", provider_id=model.id)
    return Markup('<a href="{}">{}</a>{}').format(
        url, model.name, _owned_badge(model.owned_or_affiliated)
    )


def _location_name(view: Any, context: Any, model: ProviderLocation, name: str) -> Markup:
    url = url_for("provider_directory.location", location_id=model.id)
    return Markup('<a href="{}" data-testid="location-link">{}</a>').format(url, model.name)


def _location_provider(view: Any, context: Any, model: ProviderLocation, name: str) -> Markup:
    provider = model.provider
    return Markup("{}{}").format(provider.name, _owned_badge(provider.owned_or_affiliated))


def _labels(field: str) -> Any:
    def show(view: Any, context: Any, model: Any, name: str) -> str:
        value = getattr(model, field)
        known = LABELS[field]
        if isinstance(value, list):
            return ", ".join(str(known.get(v, v)) for v in value)
        return known.get(value, value) if value else "—"

    return show


def _status(view: Any, context: Any, model: Any, name: str) -> Markup:
    return _status_badge(model.status)


def _capacity(view: Any, context: Any, model: ProviderLocation, name: str) -> Markup:
    note = note_for(model)
    if note.beds is None:
        return Markup('<span class="text-muted">not confirmed</span>')
    stale = Markup(' <span class="badge badge-danger">stale</span>') if note.stale else ""
    return Markup("{} · {}{}").format(note.beds, note.age, stale)


class LevelOfCareFilter(FilterEqual):  # type: ignore[misc]
    """Locations offering a level of care (a match inside the JSON list)."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        if value not in vocabulary.LEVELS_OF_CARE:
            return query.filter(false())
        return query.filter(cast(ProviderLocation.levels_of_care, String).like(f'%"{value}"%'))

    def operation(self) -> str:
        return "offers"


class ProviderListView(SecureModelView):
    """Providers (organisations): find one, open its page."""

    permission = Permission.VIEW_PROVIDERS
    can_create = can_edit = can_delete = False
    column_display_actions = False  # the name opens the provider's page
    column_list = ("name", "regulator", "regulator_provider_id", "status", "contract_status")
    column_labels = {"regulator_provider_id": "Regulator id", "contract_status": "Contract"}
    column_searchable_list = ("name", "regulator_provider_id")
    column_filters = (
        FilterEqual(Provider.status, "Status", options=list(vocabulary.PROVIDER_STATUSES.items())),
        FilterEqual(
            Provider.owned_or_affiliated, "Owned/affiliated", options=[("1", "yes"), ("0", "no")]
        ),
    )
    column_sortable_list = ("name", "status")
    column_default_sort = "name"
    column_formatters = {
        "name": _provider_name,
        "regulator": _labels("regulator"),
        "status": _status,
        "contract_status": _labels("contract_status"),
    }
    list_template = "providers/provider_list.html"

    def __init__(self) -> None:
        super().__init__(Provider, db, name="Providers", endpoint="providers", category=CATEGORY)

    def render(self, template: str, **kwargs: Any) -> Any:
        return super().render(template, can_manage=can(Permission.MANAGE_PROVIDERS), **kwargs)


class LocationListView(SecureModelView):
    """Locations: search by name, town, postcode or regulator id; filter by status or care."""

    permission = Permission.VIEW_PROVIDERS
    can_create = can_edit = can_delete = False
    column_display_actions = False  # the name opens the location's page
    column_list = (
        "name",
        "provider",
        "town",
        "postcode",
        "levels_of_care",
        "status",
        "capacity_confirmed_at",
    )
    column_labels = {"levels_of_care": "Care", "capacity_confirmed_at": "Beds · confirmed"}
    column_searchable_list = ("name", "town", "postcode", "regulator_location_id")
    column_filters = (
        FilterEqual(
            ProviderLocation.status, "Status", options=list(vocabulary.PROVIDER_STATUSES.items())
        ),
        LevelOfCareFilter(
            ProviderLocation.levels_of_care,
            "Level of care",
            options=list(vocabulary.LEVELS_OF_CARE.items()),
        ),
    )
    column_sortable_list = ("name", "town", "status", "capacity_confirmed_at")
    column_default_sort = "name"
    column_formatters = {
        "name": _location_name,
        "provider": _location_provider,
        "levels_of_care": _labels("levels_of_care"),
        "status": _status,
        "capacity_confirmed_at": _capacity,
    }
    list_template = "providers/location_list.html"

    def __init__(self) -> None:
        super().__init__(
            ProviderLocation, db, name="Locations", endpoint="provider_locations", category=CATEGORY
        )

    def get_query(self) -> Any:
        # The provider's name and label are on every row: one joined query, not one per row.
        return super().get_query().options(joinedload(ProviderLocation.provider))

    def render(self, template: str, **kwargs: Any) -> Any:
        return super().render(
            template,
            can_manage=can(Permission.MANAGE_PROVIDERS),
            stale_after=stale_days(),
            **kwargs,
        )


class DirectoryView(SecureBaseView):
    """A provider's page and a location's page: everything a match or a call needs."""

    permission = Permission.VIEW_PROVIDERS

    def __init__(self) -> None:
        super().__init__(
            name="Provider pages", endpoint="provider_directory", url="/admin/directory"
        )

    def is_visible(self) -> bool:
        return False  # reached from the lists, the match page and referrals

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("providers.index_view"))

    @expose("/providers/<int:provider_id>/")
    def provider(self, provider_id: int) -> Any:
        provider = db.session.scalar(
            select(Provider)
            .where(Provider.id == provider_id)
            .options(joinedload(Provider.locations))
        )
        if provider is None:
            abort(404)
        notes = {loc.id: note_for(loc) for loc in provider.locations}
        history = provider_history(provider.id)
        with unit_of_work():
            if history.recent:  # its referral record names clients by lead reference
                record_audit_event(
                    current_actor(),
                    "view",
                    object_type="referrals",
                    detail=f"provider {provider_id} page, {len(history.recent)} referrals",
                )
            # Rendered before the commit, which would expire the rows and reload each one.
            return self.render(
                "providers/provider.html",
                provider=provider,
                notes=notes,
                labels=LABELS,
                owned_label=vocabulary.OWNED_LABEL,
                can_manage=can(Permission.MANAGE_PROVIDERS),
                history=history,
                status_labels=STATUS_LABELS,
                fees=provider_fee_section(provider.id),
            )

    @expose("/locations/<int:location_id>/")
    def location(self, location_id: int) -> Any:
        location = db.session.scalar(
            select(ProviderLocation)
            .where(ProviderLocation.id == location_id)
            .options(joinedload(ProviderLocation.provider))
        )
        if location is None:
            abort(404)
        confirmed_by = None
        if location.capacity_confirmed_by_id is not None:
            confirmed_by = db.session.scalar(
                select(User.name).where(User.id == location.capacity_confirmed_by_id)
            )
        return self.render(
            "providers/location.html",
            location=location,
            provider=location.provider,
            note=note_for(location, confirmed_by),
            stale_after=stale_days(),
            point=services.location_point(location),
            labels=LABELS,
            owned_label=vocabulary.OWNED_LABEL,
            form=CapacityForm(),
            can_manage=can(Permission.MANAGE_PROVIDERS),
            can_confirm=can(Permission.CONFIRM_CAPACITY),
        )


class CapacityView(SecureBaseView):
    """Record the beds a clinic says it has, with who and when (any staff member)."""

    permission = Permission.CONFIRM_CAPACITY

    def __init__(self) -> None:
        super().__init__(name="Capacity", endpoint="provider_capacity", url="/admin/capacity")

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("provider_locations.index_view"))

    @expose("/<int:location_id>", methods=("POST",))
    def confirm(self, location_id: int) -> Any:
        form = CapacityForm()
        back = url_for("provider_directory.location", location_id=location_id)
        if not form.validate_on_submit():
            flash("Enter the number of beds available now (0 if full).", "error")
            return redirect(back)
        try:
            with unit_of_work():
                location = services.confirm_capacity(
                    location_id, form.beds_available.data, current_actor()
                )
                name, beds = location.name, location.beds_available
        except DomainError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                abort(404)
            flash(exc.message, "error")
            return redirect(back)
        flash(f"{name}: {beds} bed(s) available, confirmed now.", "success")
        target = request.form.get("next", "")
        return redirect(target if target.startswith("/admin/") else back)
