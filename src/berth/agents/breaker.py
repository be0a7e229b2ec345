"""A circuit breaker per tool: closed, open after N failures in a window, half-open probe."""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from berth import errors
from berth.agents.tool import BreakerPolicy
from berth.clock import Clock, SystemClock


class BreakerState(StrEnum):
    """Where a breaker is: calls pass (closed), are refused (open), or one probes."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts one tool's failures; refuses calls while open."""

    def __init__(self, name: str, policy: BreakerPolicy, clock: Clock | None = None) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock or SystemClock()
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker turns half-open once its cooldown has passed)."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock.now() - self._opened_at >= self.policy.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before(self) -> None:
        """Let a call through or raise CircuitOpen; in half-open, only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        assert self._opened_at is not None
        wait = max(0.0, self.policy.cooldown_s - (self._clock.now() - self._opened_at))
        raise errors.CircuitOpen(
            f"The tool '{self.name}' failed {self.policy.failures} times within "
            f"{self.policy.window_s:g} s and its circuit breaker is open. "
            f"Try again in {wait:.0f} s."
        )

    def success(self) -> None:
        """A call succeeded: the breaker closes and forgets its failures."""
        self._failures.clear()
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        """A call failed: count it; a failed probe, or N in the window, opens the breaker."""
        now = self._clock.now()
        if self._probing:
            self._probing = False
            self._opened_at = now
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.policy.window_s:
            self._failures.popleft()
        if len(self._failures) >= self.policy.failures:
            self._opened_at = now
            self._failures.clear()
