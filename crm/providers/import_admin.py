"""The "Import CSV" screens: upload the directory, watch its progress, read the report."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import select
from sqlalchemy.orm import load_only

from crm.admin.secure import SecureBaseView
from crm.auth.models import User
from crm.auth.permissions import Permission
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.providers import csv_rules, imports
from crm.providers.forms import UploadForm
from crm.providers.models import ImportJob
from crm.queue import PROVIDER_IMPORT, enqueue_after_commit
from crm.requestctx import current_actor

REPORT_PAGE = 500
SHOW = {"attention": "Skipped", "all": "Every row", "created": "Created", "updated": "Updated"}
# The upload form may carry a directory of up to MAX_BYTES (plus the form's own bytes); every
# other request keeps the app-wide limit.
UPLOAD_LIMIT = csv_rules.MAX_BYTES + 512 * 1024
UPLOAD_ENDPOINT = "provider_imports.index"


def allow_directory_uploads(app: Flask) -> None:
    """Raise the body limit for the upload alone. It runs first among the app's before-request
    functions because CSRF protection reads (and so size-checks) the form before the view."""

    def raise_limit() -> None:
        if request.method == "POST" and request.endpoint == UPLOAD_ENDPOINT:
            request.max_content_length = UPLOAD_LIMIT

    app.before_request_funcs.setdefault(None, []).insert(0, raise_limit)


class ProviderImportView(SecureBaseView):
    """Managers upload the directory CSV; a worker imports it; the page shows the progress."""

    permission = Permission.MANAGE_PROVIDERS

    def __init__(self) -> None:
        super().__init__(
            name="Import CSV",
            endpoint="provider_imports",
            url="/admin/provider-imports",
            category="Providers",
        )

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        form = UploadForm()
        if request.method == "POST" and form.validate_on_submit():
            job_id = self._start(form)
            if job_id is not None:
                return redirect(url_for(".job", job_id=job_id))
        jobs = db.session.scalars(
            select(ImportJob)
            .options(load_only(*_SUMMARY_COLUMNS))
            .order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
            .limit(20)
        ).all()
        return self.render(
            "providers/imports.html",
            form=form,
            jobs=jobs,
            names=_names({j.created_by_id for j in jobs}),
            columns=csv_rules.COLUMNS,
            max_rows=csv_rules.MAX_ROWS,
            max_mb=csv_rules.MAX_BYTES // (1024 * 1024),
        )

    def _start(self, form: UploadForm) -> int | None:
        upload = form.file.data
        if upload is None or not getattr(upload, "filename", ""):
            form.file.errors = ["Choose the CSV file to import."]
            return None
        data = upload.read(csv_rules.MAX_BYTES + 1)
        try:
            with unit_of_work():
                job = imports.start_import(upload.filename, data, current_actor())
                job_id = job.id
                enqueue_after_commit(db.session(), PROVIDER_IMPORT, job_id)
        except DomainError as exc:
            form.file.errors = [exc.message]
            flash(f"Nothing was imported: {exc.message}", "error")
            return None
        flash("The file was accepted; the import runs in the background.", "success")
        return int(job_id)

    @expose("/<int:job_id>/")
    def job(self, job_id: int) -> Any:
        job = db.session.scalar(
            select(ImportJob).options(load_only(*_SUMMARY_COLUMNS)).where(ImportJob.id == job_id)
        )
        if job is None:
            abort(404)
        show = request.args.get("show", "attention")
        show = show if show in SHOW else "attention"
        rows: list[dict[str, Any]] = []
        if job.status in ("done", "failed"):
            rows = _report_rows(job_id, show)
        return self.render(
            "providers/import_job.html",
            job=job,
            progress=imports.progress(job_id),
            rows=rows[:REPORT_PAGE],
            more=max(0, len(rows) - REPORT_PAGE),
            show=show,
            choices=SHOW,
            by=_names({job.created_by_id}).get(job.created_by_id or 0),
        )

    @expose("/template.csv")
    def template(self) -> Any:
        """A header row with every column, to fill in (UTF-8 with BOM, so Excel reads it)."""
        header = ",".join(c.name for c in csv_rules.COLUMNS)
        return Response(
            "\ufeff" + header + "\r\n",
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="provider-directory.csv"'},
        )

    @expose("/<int:job_id>/progress")
    def progress(self, job_id: int) -> Any:
        try:
            return jsonify(imports.progress(job_id))
        except DomainError:
            abort(404)


_SUMMARY_COLUMNS = (
    ImportJob.id,
    ImportJob.filename,
    ImportJob.status,
    ImportJob.total_rows,
    ImportJob.processed_rows,
    ImportJob.created,
    ImportJob.updated,
    ImportJob.skipped,
    ImportJob.error,
    ImportJob.created_by_id,
    ImportJob.created_at,
    ImportJob.started_at,
    ImportJob.finished_at,
)


def _report_rows(job_id: int, show: str) -> list[dict[str, Any]]:
    report = db.session.scalar(select(ImportJob.report).where(ImportJob.id == job_id)) or []
    if show == "all":
        return list(report)
    wanted = "skipped" if show == "attention" else show
    return [entry for entry in report if entry.get("outcome") == wanted]


def _names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())
