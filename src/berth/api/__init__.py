"""The HTTP API: OpenAI-compatible endpoints, jobs, model administration, health, metrics.

Thin routers over the services, with OpenAI-shaped schemas; :func:`install` adds them to an
application (see :mod:`berth.site`).
"""

from berth.api.app import install

__all__ = ["install"]
