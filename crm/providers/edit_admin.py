"""Managers and admins add and edit providers and their locations (validated by the services)."""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose

from crm.admin.secure import SecureBaseView
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.providers import rules, services, vocabulary
from crm.providers.forms import LocationForm, ProviderForm
from crm.providers.models import Provider, ProviderLocation
from crm.requestctx import current_actor


class ProviderEditView(SecureBaseView):
    """``/admin/provider-edit/``: the forms behind "Add provider", "Edit" and "Add location"."""

    permission = Permission.MANAGE_PROVIDERS

    def __init__(self) -> None:
        super().__init__(
            name="Edit providers", endpoint="provider_edit", url="/admin/provider-edit"
        )

    def is_visible(self) -> bool:
        return False  # reached from the provider and location pages

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("providers.index_view"))

    @expose("/new", methods=("GET", "POST"))
    def new_provider(self) -> Any:
        form = ProviderForm()
        if request.method == "POST" and form.validate_on_submit():
            saved = self._save(
                form, lambda: services.create_provider(form.values(), current_actor())
            )
            if saved is not None:
                flash(f"Provider {saved.name} added. Now add its locations.", "success")
                return redirect(url_for("provider_directory.provider", provider_id=saved.id))
        return self.render("providers/provider_form.html", form=form, provider=None)

    @expose("/<int:provider_id>/", methods=("GET", "POST"))
    def edit_provider(self, provider_id: int) -> Any:
        provider = db.session.get(Provider, provider_id) or abort(404)
        form = ProviderForm()
        if request.method == "GET":
            form.process(data=rules.provider_values(provider))
        elif form.validate_on_submit():
            saved = self._save(
                form, lambda: services.update_provider(provider_id, form.values(), current_actor())
            )
            if saved is not None:
                flash("Provider saved.", "success")
                return redirect(url_for("provider_directory.provider", provider_id=provider_id))
        return self.render(
            "providers/provider_form.html",
            form=form,
            provider=provider,
            owned_label=vocabulary.OWNED_LABEL,
        )

    @expose("/<int:provider_id>/locations/new", methods=("GET", "POST"))
    def new_location(self, provider_id: int) -> Any:
        provider = db.session.get(Provider, provider_id) or abort(404)
        form = LocationForm()
        if request.method == "POST" and form.validate_on_submit():
            saved = self._save(
                form,
                lambda: services.create_location(provider_id, form.values(), current_actor()),
            )
            if saved is not None:
                flash(f"Location {saved.name} added.", "success")
                return redirect(url_for("provider_directory.location", location_id=saved.id))
        return self.render(
            "providers/location_form.html",
            form=form,
            provider=provider,
            location=None,
            owned_label=vocabulary.OWNED_LABEL,
        )

    @expose("/locations/<int:location_id>/", methods=("GET", "POST"))
    def edit_location(self, location_id: int) -> Any:
        location = db.session.get(ProviderLocation, location_id) or abort(404)
        form = LocationForm()
        if request.method == "GET":
            form.fill(rules.location_values(location))
        elif form.validate_on_submit():
            saved = self._save(
                form,
                lambda: services.update_location(location_id, form.values(), current_actor()),
            )
            if saved is not None:
                flash("Location saved.", "success")
                return redirect(url_for("provider_directory.location", location_id=location_id))
        return self.render(
            "providers/location_form.html",
            form=form,
            provider=location.provider,
            location=location,
            owned_label=vocabulary.OWNED_LABEL,
        )

    @staticmethod
    def _save(form: ProviderForm | LocationForm, action: Any) -> Any:
        """Run the service in a transaction; on refusal show its errors on the form."""
        try:
            with unit_of_work():
                saved = action()
                saved_id, saved_name = saved.id, saved.name
        except DomainError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                abort(404)
            form.show(exc)
            flash(exc.message, "error")
            return None
        return _Saved(saved_id, saved_name)


class _Saved(NamedTuple):
    """What a save leaves behind for the redirect, read before the commit expires the row."""

    id: int
    name: str
