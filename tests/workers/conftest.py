"""Real processes for tests that need them: a scratch database, the CLI, celery and gunicorn.

A scratch database is a new SQLite file, or (TEST_DB=postgres) a new database created on the
server TEST_DATABASE_URL names and dropped afterwards, so processes started by a test never
touch the session's database. Every process a test starts is stopped by the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Only what a process needs from the outside; the rest of the environment is set on purpose.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def with_redis_db(url: str, number: int) -> str:
    """The same Redis server, another logical database (so queues never mix with db 0's)."""
    base, _, last = url.rpartition("/")
    return f"{base}/{number}" if last.isdigit() else f"{url.rstrip('/')}/{number}"


def process_env(database_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    """The environment of a test-started process: CRM_ENV=test on the given servers."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update(
        CRM_ENV="test",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="process-test-secret-" + "s" * 32,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),  # this checkout's code, whatever the venv was installed from
        **settings,
    )
    return env


def run_flask(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``flask --app wsgi ARGS`` as an operator would; fail the test with its output."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class Processes:
    """Long-running programs a test starts; ``stop_all`` always ends every one of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        # Its own process group, so stopping it also stops the pool children it forks.
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running.append((name, proc, log))
        return proc

    def check_alive(self) -> None:
        for name, proc, _ in self.running:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for _, proc, _ in reversed(self.running):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc, log in reversed(self.running):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()
        self.running.clear()
