"""Sortable ids: a millisecond timestamp then randomness, in Crockford base32 (ULID layout).

Ids sort by creation time, so ``ORDER BY id`` is "oldest first" everywhere.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str = "") -> str:
    """A new 26-character sortable id; ids made in one process never repeat or go backwards."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _last_random = (_last_random + 1) % (1 << _RANDOM_BITS)
        else:
            _last_random = int.from_bytes(os.urandom(10), "big")
        _last_ms = now_ms
        return prefix + _encode(now_ms, 10) + _encode(_last_random, 16)


def id_time(value: str, prefix: str = "") -> float:
    """The creation time (Unix seconds) encoded in an id made by :func:`new_id`."""
    ms = 0
    for char in value.removeprefix(prefix)[:10]:
        ms = ms * 32 + _ALPHABET.index(char)
    return ms / 1000
