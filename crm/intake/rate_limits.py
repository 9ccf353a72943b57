"""The intake API's two rate limits in one Redis round trip.

Per client address and in total, in fixed one-minute windows: the counting Flask-Limiter's
fixed-window strategy does (the hosted form and the login keep Flask-Limiter). Through
Flask-Limiter the two limits cost two round trips and its per-request machinery, about 0.9 ms
of CPU, more than everything else the endpoint does before its INSERT; here they cost one
pipelined round trip. Counters live under ``RATELIMIT_KEY_PREFIX``. If Redis cannot be reached
the request goes through, logged (as Flask-Limiter's RATELIMIT_SWALLOW_ERRORS does): losing
Redis must not lose a callback request.
"""

from __future__ import annotations

import logging
import time

import redis
from flask import current_app

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
_clients: dict[str, redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        _clients[url] = client
    return client


def over_limit(address: str | None, per_address: int, overall: int) -> bool:
    """Count this request; True if it is over either limit (it is counted all the same)."""
    config = current_app.config
    window = int(time.time()) // WINDOW_SECONDS
    prefix = config["RATELIMIT_KEY_PREFIX"]
    by_address = f"{prefix}/intake-ip/{address or 'unknown'}/{window}"
    everyone = f"{prefix}/intake-global/{window}"
    try:
        pipe = _client(config["RATELIMIT_STORAGE_URI"]).pipeline(transaction=False)
        pipe.incr(by_address)
        pipe.expire(by_address, 2 * WINDOW_SECONDS)
        pipe.incr(everyone)
        pipe.expire(everyone, 2 * WINDOW_SECONDS)
        from_address, _, from_everyone, _ = pipe.execute()
    except redis.RedisError as exc:
        log.warning("intake rate limits not checked (Redis: %s); the request goes through", exc)
        return False
    return int(from_address) > per_address or int(from_everyone) > overall
