"""The intake API's two rate limits in one Redis round trip.

Per client address and in total, in fixed one-minute windows: the counting Flask-Limiter's
fixed-window strategy does (the hosted form and the login keep Flask-Limiter). Through
Flask-Limiter the two limits cost two round trips and its per-request machinery, about 0.9 ms
of CPU, more than everything else the endpoint does before its INSERT; here they cost one
command: a Lua script (EVALSHA) that counts both and sets their expiry, which redis-py packs
and parses for a third of a four-command pipeline's CPU. Counters live under
``RATELIMIT_KEY_PREFIX``. If Redis cannot be reached the request goes through, logged (as
Flask-Limiter's RATELIMIT_SWALLOW_ERRORS does): losing Redis must not lose a callback request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import current_app

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
_clients: dict[str, tuple[redis.Redis, Any]] = {}


def _count_both(url: str) -> Any:
    """The counting script on the Redis at ``url`` (it loads itself on first use)."""
    known = _clients.get(url)
    if known is None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        known = _clients[url] = (client, client.register_script(_COUNT_BOTH))
    return known[1]


def over_limit(address: str | None, per_address: int, overall: int) -> bool:
    """Count this request; True if it is over either limit (it is counted all the same)."""
    config = current_app.config
    window = int(time.time()) // WINDOW_SECONDS
    prefix = config["RATELIMIT_KEY_PREFIX"]
    by_address = f"{prefix}/intake-ip/{address or 'unknown'}/{window}"
    everyone = f"{prefix}/intake-global/{window}"
    try:
        count = _count_both(config["RATELIMIT_STORAGE_URI"])
        from_address, from_everyone = count(keys=[by_address, everyone], args=[2 * WINDOW_SECONDS])
    except redis.RedisError as exc:
        log.warning("intake rate limits not checked (Redis: %s); the request goes through", exc)
        return False
    return int(from_address) > per_address or int(from_everyone) > overall
