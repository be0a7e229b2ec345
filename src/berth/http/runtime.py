"""What a request reaches: the services of the Berth serving it, as a FastAPI dependency.

The site (:mod:`berth.site`) puts them in ``app.state.services``; routers and pages declare
``services: ServicesDep`` and never touch a store, the pool or the catalog themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from berth.services import Services


def services(request: Request) -> Services:
    """The services of the app serving this request."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]
