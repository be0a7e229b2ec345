"""What the routers reach through the app: Berth's services and the running parts."""

from __future__ import annotations

from fastapi import Request

from berth import errors
from berth.app import Berth
from berth.jobs.dispatcher import Dispatcher
from berth.services.inference import InferenceService
from berth.services.keys import KeyService


class Runtime:
    """Held in ``app.state.runtime``; built by ``berth serve`` (or a test).

    ``keys`` defaults to the API keys in Berth's own database, counted as its settings say.
    """

    def __init__(
        self,
        berth: Berth,
        dispatcher: Dispatcher | None = None,
        *,
        keys: KeyService | None = None,
        inference: InferenceService | None = None,
    ) -> None:
        self.berth = berth
        self.dispatcher = dispatcher
        self.inference = inference
        self.keys = keys or KeyService.build(berth.store, berth.settings, clock=berth.clock)


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving this request."""
    found: Runtime = request.app.state.runtime
    return found


def inference(request: Request) -> InferenceService:
    """The inference service; 503 if this server runs without models."""
    service = runtime(request).inference
    if service is None:
        raise errors.PoolClosed("This server runs without a model pool: it serves jobs only.")
    return service
