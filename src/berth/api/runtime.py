"""What the routers reach through the app: Berth's services and the running parts."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from berth.app import Berth
from berth.jobs.dispatcher import Dispatcher


@dataclass
class Runtime:
    """Held in ``app.state.runtime``; built by ``berth serve`` (or a test)."""

    berth: Berth
    dispatcher: Dispatcher | None = None


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    found: Runtime = request.app.state.runtime
    return found
