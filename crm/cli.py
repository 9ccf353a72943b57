"""Flask CLI commands: demo data (development only) and creating a named staff account."""

from __future__ import annotations

import secrets
from datetime import time

import click
from flask import Flask, current_app
from sqlalchemy import select

from crm.auth import services
from crm.auth.models import User
from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.privacy.services import Actor

DEMO_USERS = (
    ("Ada Admissions", "ada.admissions@demo.example", "admissions"),
    ("Max Manager", "max.manager@demo.example", "manager"),
    ("Ali Admin", "ali.admin@demo.example", "admin"),
)


def _demo_password() -> str:
    words = ("harbour", "violet", "lantern", "meadow", "copper", "willow", "thistle", "ember")
    return "-".join(secrets.choice(words) for _ in range(3)) + f"-{secrets.randbelow(90) + 10}"


@click.command("demo-data")
def demo_data() -> None:
    """Create one demo user per role (development only). Idempotent; prints new passwords once."""
    if not current_app.config["CRM_SETTINGS"].is_development:
        raise click.ClickException("demo-data is refused outside development (CRM_ENV).")
    actor = Actor.system("demo-data")
    with unit_of_work():
        for name, email, role in DEMO_USERS:
            if db.session.scalar(select(User.id).where(User.email == email)) is not None:
                click.echo(f"  {role:<11} {email}  (exists; password unchanged)")
                continue
            password = _demo_password()
            user = services.create_user(services.StaffDetails(name, email, role), password, actor)
            user.available = role == "admissions"
            click.echo(f"  {role:<11} {email}  password: {password}")
    with unit_of_work():
        _demo_on_call(actor)
    with unit_of_work():
        from crm.providers.demo import load_demo_providers

        click.echo("  " + load_demo_providers(actor))


def _demo_on_call(actor: Actor) -> None:
    """A weekly rota (Ada, then Max), a default policy and a website key, once."""
    from crm import clock
    from crm.intake.models import ApiKey
    from crm.intake.services import issue_api_key
    from crm.oncall import policies, rotas
    from crm.oncall.models import EscalationPolicy, Rota

    if db.session.scalar(select(Rota.id).limit(1)) is None:
        people = {u.role: u for u in db.session.scalars(select(User))}
        monday = clock.now().astimezone(clock.LONDON).date()
        monday = monday.fromordinal(monday.toordinal() - monday.weekday())
        rota = rotas.save_rota(
            "Admissions on call",
            [people["admissions"].id, people["manager"].id],
            7,
            time(9),
            monday,
            "Europe/London",
            actor,
        )
        if db.session.scalar(select(EscalationPolicy.id).limit(1)) is None:
            policies.save_policy(
                "Out of hours and overdue callbacks",
                1,
                True,
                [
                    policies.StepInput("rota", rota.id, None, None, 5),
                    policies.StepInput("user", None, people["manager"].id, None, 5),
                ],
                actor,
                allow_http=True,
            )
        click.echo("  on call: weekly rota 'Admissions on call' and a default escalation policy")
    if db.session.scalar(select(ApiKey.id).limit(1)) is None:
        _, secret = issue_api_key("demo website", actor)
        click.echo(f"  website API key (shown once): {secret}")


@click.command("create-staff")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["admissions", "manager", "admin"]))
@click.password_option(prompt="Password (at least 12 characters)")
def create_staff(name: str, email: str, role: str, password: str) -> None:
    """Create a personal staff account (how the first admin is made in production)."""
    try:
        with unit_of_work():
            user = services.create_user(
                services.StaffDetails(name, email, role), password, Actor.system("cli")
            )
    except DomainError as exc:
        problems = "; ".join(p for ps in exc.field_errors.values() for p in ps)
        raise click.ClickException(f"{exc.message} {problems}") from None
    click.echo(f"Created {user.role} account for {user.email}.")


def init_cli(app: Flask) -> None:
    app.cli.add_command(demo_data)
    app.cli.add_command(create_staff)
