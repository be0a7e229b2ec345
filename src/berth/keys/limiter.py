"""Requests per key over a moving one-minute window, counted by the ``limits`` library.

The counts live where ``BERTH_RATE_LIMIT_STORAGE`` says: ``memory://`` counts in this process
(each host counts on its own), ``redis://HOST:6379`` shares them across hosts.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from berth import errors

NAMESPACE = "berth-key"


def async_url(url: str) -> str:
    """The ``limits`` URL of the asyncio flavour of a storage (``redis://`` -> ``async+redis://``)."""
    return url if url.startswith("async+") else f"async+{url}"


class RequestLimiter:
    """Admits a key's request if it had fewer than its rate in the last 60 seconds."""

    def __init__(self, storage_url: str = "memory://") -> None:
        try:
            storage = storage_from_string(async_url(storage_url.strip()))
            self._limiter = MovingWindowRateLimiter(storage)
        except (ConfigurationError, NotImplementedError) as exc:
            raise errors.ConfigError(
                f"Cannot count requests in '{storage_url}': {str(exc).rstrip('.')}. Set "
                "BERTH_RATE_LIMIT_STORAGE to memory://, or to redis://HOST:6379 with "
                "`pip install 'limits[async-redis]'`."
            ) from exc

    async def admit(self, key_id: str, per_minute: int) -> int | None:
        """Count one request; return None if admitted, else whole seconds until a slot frees."""
        item = RateLimitItemPerMinute(per_minute)
        if await self._limiter.hit(item, NAMESPACE, key_id):
            return None
        stats = await self._limiter.get_window_stats(item, NAMESPACE, key_id)
        return max(1, math.ceil(stats.reset_time - time.time()))
