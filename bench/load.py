"""Throughput: gunicorn servers on 127.0.0.1 driven by wrk (or a small Python load generator).

Every server started here is stopped by the context manager that started it, whatever happens.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTAKE_PATH = "/api/v1/callback-requests"
# Each load run (block) and generator thread posts its own range of valid UK mobile numbers:
# +44 78bt nnnnnn, where b is the run's block (1-9) and t the thread.
LOAD_PHONE_BASE = 7_800_000_000
BLOCK = 10_000_000


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    requests: int
    errors: int  # non-2xx answers and socket errors
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    tool: str
    latency_p95_ms: float | None = None  # the Python generator's (wrk prints no p95)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not listen on {port} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the gunicorn master's process group (ours alone), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], log_path: Path) -> Iterator[int]:
    """Run ``gunicorn app_spec -w 2 --threads 4`` on a free loopback port; yield the port."""
    port = free_port()
    binary = Path(sys.executable).parent / "gunicorn"
    command = [str(binary), app_spec, "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops its workers
        )
        try:
            try:
                _wait_for_port(port, process)
            except RuntimeError as exc:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{exc}; its log ends:\n{tail}") from None
            yield port
        finally:
            _stop(process)


# --- wrk -------------------------------------------------------------------------------------

_LUA = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
function init(args)
  base = PHONE_BASE + tid * 1000000
end

function request()
  counter = counter + 1
  local body = string.format(BODY, base + counter)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. API_KEY,
    ["Idempotency-Key"] = string.format("%s-%d-%d", RUN, tid, counter),
  }
  return wrk.format("POST", PATH, headers, body)
end
"""


def _lua_script(api_key: str, body_template: str, run_id: str, block: int) -> str:
    settings = (
        f"PHONE_BASE = {LOAD_PHONE_BASE + block * BLOCK}\nAPI_KEY = {json.dumps(api_key)}\n"
        f"BODY = {json.dumps(body_template)}\nRUN = {json.dumps(f'{run_id}-{block}')}\n"
        f"PATH = {json.dumps(INTAKE_PATH)}\n"
    )
    return settings + _LUA


def _latency_ms(output: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if not match:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def _parse_wrk(output: str) -> LoadResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rps or not total:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return LoadResult(
        float(rps.group(1)),
        int(total.group(1)),
        errors,
        _latency_ms(output, "50"),
        _latency_ms(output, "99"),
        "wrk",
    )


def run_wrk(port: int, script: Path, seconds: int, concurrency: int) -> LoadResult:
    threads = max(1, min(2, concurrency))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "30s",  # a slow answer is counted, not dropped as a socket timeout
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{INTAKE_PATH}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return _parse_wrk(done.stdout)


# --- the Python fallback ---------------------------------------------------------------------


def run_python_load(
    port: int, plan: LoadPlan, seconds: float, block: int, cap: int | None = None
) -> LoadResult:
    """Keep-alive HTTP/1.1 clients in threads, loopback only, bounded by time and count."""
    deadline = time.monotonic() + seconds
    # Without a cap: far above what this machine can serve; a guard, not a target.
    cap = cap or int(20_000 * seconds)
    base = LOAD_PHONE_BASE + block * BLOCK
    api_key, body_template, run_id = plan.api_key, plan.body_template, f"{plan.run_id}-{block}"
    latencies: list[float] = []
    errors = [0]
    sent = [0]
    lock = threading.Lock()

    def take_turn() -> bool:
        with lock:
            sent[0] += 1
            return sent[0] <= cap and time.monotonic() < deadline

    def client(tid: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        counter, mine, bad = 0, [], 0
        while take_turn():
            counter += 1
            body = body_template.replace("%d", str(base + tid * 1_000_000 + counter))
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {api_key}",
                "Idempotency-Key": f"{run_id}-{tid}-{counter}",
            }
            started = time.perf_counter()
            try:
                conn.request("POST", INTAKE_PATH, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            mine.append(time.perf_counter() - started)
            bad += 0 if ok else 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(t,)) for t in range(plan.concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)

    def pick(q: float) -> float | None:
        return ordered[int(q * (len(ordered) - 1))] * 1000 if ordered else None

    return LoadResult(
        len(ordered) / elapsed,
        len(ordered),
        errors[0],
        pick(0.5),
        pick(0.99),
        "python",
        pick(0.95),
    )


# --- one comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadPlan:
    api_key: str
    body_template: str  # JSON with one %d where the phone's digits go (after +44)
    run_id: str
    seconds: int
    concurrency: int
    warmup_seconds: int = 3


@contextmanager
def _wrk_script(plan: LoadPlan, block: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        path = Path(tmp) / "intake.lua"
        path.write_text(_lua_script(plan.api_key, plan.body_template, plan.run_id, block))
        yield path


def drive(port: int, plan: LoadPlan, seconds: int, block: int) -> LoadResult:
    """One load run with wrk if installed (the Python generator otherwise)."""
    if shutil.which("wrk") is None:
        return run_python_load(port, plan, seconds, block)
    with _wrk_script(plan, block) as script:
        return run_wrk(port, script, seconds, plan.concurrency)


def warm_up(port: int, plan: LoadPlan, block: int) -> LoadResult:
    """Until every connection has had answers: workers boot and open their pools lazily.

    A cold gunicorn worker's first requests can take seconds on a loaded machine; measuring
    from a cold start would time the boot, not the endpoint.
    """
    return run_python_load(port, plan, 120, block, cap=plan.concurrency * 10)
