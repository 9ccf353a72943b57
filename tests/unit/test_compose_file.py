"""docker-compose.yml and the Dockerfile describe processes that can actually start.

No Docker engine runs here, so the file is checked by reading it: every command names a
module and object that exist (loaded by the real gunicorn / celery / flask programs in
subprocesses, under the compose environment), every environment variable is one config.py
reads and the whole environment parses, web and worker scale, beat cannot, and migrations
run once before anything else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import load_settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_SERVICES = {"migrate", "web", "worker", "beat"}
RUNTIME_PATHS = ("config.py", "wsgi.py", "crm", "workers", "migrations", "templates")
_READ = re.compile(r"_(?:raw|bool|int|choice|url)\(\s*env,\s*\"([A-Z][A-Z0-9_]*)\"")
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _interpolate(value: object) -> str:
    """What compose puts in the container when no variable is set: ${X:-default} → default."""

    def default(match: re.Match[str]) -> str:
        if match.group(2) is None:
            raise AssertionError(f"{match.group(0)} has no default: compose would leave it empty")
        return match.group(2)

    return _INTERPOLATION.sub(default, str(value))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: _interpolate(value) for name, value in env.items()}


@pytest.fixture(scope="module")
def app_env(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The web service's environment as a container would see it, with the secret on disk."""
    env = _environment(services["web"])
    key_file = tmp_path_factory.mktemp("secrets") / "secret_key"
    key_file.write_text("k" * 64, encoding="utf-8")
    env["SECRET_KEY_FILE"] = str(key_file)
    return env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a program of the image with only the compose environment (plus PATH)."""
    full_env = {"PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else list(command)


def test_services_are_the_production_shape(services: dict[str, Any]) -> None:
    assert set(services) == APP_SERVICES | {"postgres", "redis", "mailpit"}
    assert {name for name, s in services.items() if "build" in s} == APP_SERVICES
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    mail_ports = " ".join(
        str(p)
        for p in [*services["mailpit"].get("ports", []), *services["mailpit"].get("expose", [])]
    )
    assert "8025" in mail_ports and "1025" in mail_ports


def test_every_app_service_builds_the_one_image_from_the_dockerfile(
    services: dict[str, Any],
) -> None:
    images = set()
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = context / (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert context.resolve() == ROOT, f"{name}: build context is not the repository"
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        images.add(services[name].get("image"))
    assert len(images) == 1, f"app services should share one image, got {images}"


def test_dockerfile_is_slim_non_root_without_dev_dependencies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in dockerfile.splitlines()]
    assert any(re.fullmatch(r"FROM python:3\.12-slim", line) for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "the image must end as a non-root user"
    assert re.search(r"pip install (--[\w-]+ )*\.(\s|$)", dockerfile), "expected `pip install .`"
    instructions = "\n".join(line for line in lines if not line.startswith("#"))
    assert "[dev]" not in instructions, "the image must not install the dev extra"
    copied = " ".join(line for line in lines if line.startswith("COPY "))
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for path in RUNTIME_PATHS:
        assert re.search(rf"(^|\s){re.escape(path)}(\s|$)", copied), f"{path} is not copied"
        assert path not in ignored, f"{path} is excluded from the build context"
    assert {"secrets", "instance", ".venv", ".git"} <= ignored


def test_web_command_loads_the_wsgi_app_in_gunicorn(
    services: dict[str, Any],
    app_env: dict[str, str],
) -> None:
    argv = _command(services["web"])
    assert argv[:2] == ["gunicorn", "wsgi:app"]
    assert "0.0.0.0:8000" in argv
    # --check-config makes gunicorn import the app exactly as it would serve it, then exit.
    result = _run([str(BIN / "gunicorn"), "--check-config", *argv[1:]], app_env)
    assert result.returncode == 0, result.stderr[-2000:]


_CELERY_PROBE = (
    "import importlib, json, sys, celery; "
    "a = importlib.import_module(sys.argv[1]).celery_app; "
    "print(json.dumps({'is_celery': isinstance(a, celery.Celery), "
    "'tasks': sorted(a.tasks.keys()), "
    "'scheduled': sorted(e['task'] for e in a.conf.beat_schedule.values()), "
    "'broker': a.conf.broker_url}))"
)


@pytest.fixture(scope="module")
def celery_facts(app_env: dict[str, str]) -> Any:
    """What `celery -A MODULE` finds in MODULE, loaded once per module in a subprocess."""
    cache: dict[str, dict[str, Any]] = {}

    def facts(module: str) -> dict[str, Any]:
        if module not in cache:
            result = _run([sys.executable, "-c", _CELERY_PROBE, module], app_env)
            assert result.returncode == 0, result.stderr[-2000:]
            cache[module] = json.loads(result.stdout.strip().splitlines()[-1])
        return cache[module]

    return facts


@pytest.mark.parametrize("name, mode", [("worker", "worker"), ("beat", "beat")])
def test_worker_and_beat_commands_load_the_celery_app(
    services: dict[str, Any],
    app_env: dict[str, str],
    celery_facts: Any,
    name: str,
    mode: str,
) -> None:
    argv = _command(services[name])
    assert argv[:2] == ["celery", "-A"] and argv[3] == mode
    assert (ROOT / (argv[2].replace(".", "/") + ".py")).is_file()
    facts = celery_facts(argv[2])
    assert facts["is_celery"]
    assert "engine.tick" in facts["tasks"], "the worker would not know the engine tick"
    assert "engine.tick" in facts["scheduled"], "beat would never send the engine tick"
    assert facts["broker"] == app_env["REDIS_URL"]


def test_migrate_runs_the_alembic_upgrade_through_flask(
    services: dict[str, Any],
    app_env: dict[str, str],
) -> None:
    argv = _command(services["migrate"])
    assert argv == ["flask", "--app", "wsgi", "db", "upgrade"]
    assert list((ROOT / "migrations" / "versions").glob("*.py")), "no migrations to run"
    result = _run([str(BIN / "flask"), "--app", "wsgi", "db", "--help"], app_env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^\s+upgrade\s", result.stdout, re.MULTILINE)
    assert services["migrate"].get("restart", "no") == "no", "a one-off job must not restart"


def test_migrations_run_once_before_every_process_and_never_at_start(
    services: dict[str, Any],
) -> None:
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert "upgrade" not in _command(services[name]), f"{name} must not migrate at start"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    cmd = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "db upgrade" not in cmd and '"upgrade"' not in cmd


def test_web_and_worker_scale_and_beat_cannot(services: dict[str, Any]) -> None:
    for name in ("web", "worker"):
        assert "container_name" not in services[name], f"{name} could not be scaled"
        for port in services[name].get("ports", []):
            host = str(port).rsplit(":", 1)[0] if ":" in str(port) else ""
            assert host == "" or "-" in host, f"{name}: one fixed host port blocks --scale"
    beats = [name for name, s in services.items() if "command" in s and "beat" in _command(s)[:4]]
    assert beats == ["beat"], f"exactly one beat service expected, got {beats}"
    beat = services["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert "container_name" in beat, "a fixed name is what makes `--scale beat=2` fail"
    schedule = Path(_command(beat)[_command(beat).index("--schedule") + 1])
    targets = [str(v).split(":")[1] for v in beat.get("volumes", [])]
    assert str(schedule.parent) in targets or str(schedule).startswith("/tmp/")


def test_web_healthcheck_asks_healthz_on_the_served_port(services: dict[str, Any]) -> None:
    test = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in test
    from crm.health.views import healthz

    assert getattr(healthz, "is_public", False), "/healthz must answer without a login"


def test_every_environment_variable_is_one_config_reads(services: dict[str, Any]) -> None:
    source = (ROOT / "config.py").read_text(encoding="utf-8")
    read = set(_READ.findall(source))
    assert {"CRM_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= read  # the regex works
    for name in APP_SERVICES:
        for variable in _environment(services[name]):
            base = variable.removesuffix("_FILE")
            assert variable in read or base in read, f"{name}: config.py never reads {variable}"


def test_the_compose_environment_parses_as_production(
    services: dict[str, Any],
    compose: dict[str, Any],
    app_env: dict[str, str],
) -> None:
    envs = [_environment(services[name]) for name in APP_SERVICES]
    assert all(env == envs[0] for env in envs), "app services must share one environment"
    settings = load_settings(app_env)
    assert settings.env == "production"
    assert settings.secret_key == "k" * 64
    assert settings.session_cookie_secure is True, "behind TLS by default"
    # The URLs point at the services in this file, with the credentials postgres is given.
    pg = services["postgres"]["environment"]
    assert app_env["DATABASE_URL"] == (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{pg['POSTGRES_DB']}"
    )
    assert app_env["REDIS_URL"].startswith("redis://redis:6379/")
    assert settings.smtp_host in services, "mail must go to a service of this file"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck"
    # The secret comes from a compose secret, not from the file itself.
    assert _environment(services["web"])["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert compose["secrets"]["secret_key"]["file"] == "./secrets/secret_key.txt"
    for name in APP_SERVICES:
        assert "secret_key" in services[name]["secrets"], f"{name} lacks the secret"
        assert "SECRET_KEY" not in services[name]["environment"]


def test_readme_documents_every_variable_config_reads() -> None:
    """The README's configuration table is the operator's reference: it must be complete."""
    read = set(_READ.findall((ROOT / "config.py").read_text(encoding="utf-8")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", readme, re.MULTILINE))
    assert read - documented == set(), "add these to README.md's configuration table"
    assert (
        documented - read - {"TEST_DB", "TEST_DATABASE_URL", "TEST_REDIS_URL", "PYTEST_ARGS"}
        == set()
    ), "README documents unknown variables"
