"""The intake API's two rate limits in one Redis round trip.

Per client address and in total, in fixed one-minute windows: the counting Flask-Limiter's
fixed-window strategy does (the hosted form and the login keep Flask-Limiter). Through
Flask-Limiter the two limits cost two round trips and its per-request machinery, about 0.9 ms
of CPU, more than everything else the endpoint does before its INSERT; here they cost one
command: a Lua script (EVALSHA) that counts both and sets their expiry. It is sent on a
connection of the thread's own (redis-py's ``Connection``, with the hiredis parser): through
a client and its pool the call cost 0.15 ms of CPU, on the connection 0.05. Counters live
under ``RATELIMIT_KEY_PREFIX``. If Redis cannot be reached the request goes through, logged (as
Flask-Limiter's RATELIMIT_SWALLOW_ERRORS does): losing Redis must not lose a callback request.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import Any

import redis
from flask import current_app
from redis.exceptions import NoScriptError

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# KEYS: the address's counter and everyone's; ARGV[1]: seconds a counter lives (two windows).
_COUNT_BOTH = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""
_COUNT_BOTH_SHA = hashlib.sha1(_COUNT_BOTH.encode(), usedforsecurity=False).hexdigest()
_local = threading.local()


def _connection(url: str) -> Any:  # redis-py's Connection (its methods are untyped)
    """This thread's connection to the Redis at ``url``: made on first use (it connects when
    first sent to), again after an error, and afresh in a forked process."""
    if getattr(_local, "pid", None) != os.getpid():
        _local.pid, _local.connections = os.getpid(), {}
    connections: dict[str, Any] = _local.connections
    connection = connections.get(url)
    if connection is None:
        pool = redis.ConnectionPool.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        connection = connections[url] = pool.make_connection()
    return connection


def _count_both(url: str, keys: list[str], seconds: int) -> Any:
    """Both counts after this request; the script is loaded (by EVAL) if Redis lacks it. A
    connection the server closed (a restart) is replaced once; other errors are raised."""
    for attempt in (1, 2):
        connection = _connection(url)
        try:
            try:
                connection.send_command("EVALSHA", _COUNT_BOTH_SHA, len(keys), *keys, seconds)
                return connection.read_response()
            except NoScriptError:
                connection.send_command("EVAL", _COUNT_BOTH, len(keys), *keys, seconds)
                return connection.read_response()
        except redis.RedisError as exc:
            connection.disconnect()
            del _local.connections[url]
            if attempt == 2 or not isinstance(exc, redis.ConnectionError):
                raise
    raise AssertionError("unreachable")


def over_limit(address: str | None, per_address: int, overall: int) -> bool:
    """Count this request; True if it is over either limit (it is counted all the same)."""
    config = current_app.config
    window = int(time.time()) // WINDOW_SECONDS
    prefix = config["RATELIMIT_KEY_PREFIX"]
    by_address = f"{prefix}/intake-ip/{address or 'unknown'}/{window}"
    everyone = f"{prefix}/intake-global/{window}"
    try:
        from_address, from_everyone = _count_both(
            config["RATELIMIT_STORAGE_URI"], [by_address, everyone], 2 * WINDOW_SECONDS
        )
    except redis.RedisError as exc:
        log.warning("intake rate limits not checked (Redis: %s); the request goes through", exc)
        return False
    return int(from_address) > per_address or int(from_everyone) > overall
