"""The vector stores pages: the caller's stores, and one store's files with a search box.

Server-rendered: the search is a GET form, so a result page is a link that can be shared.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from berth.http.runtime import services
from berth.keys.key import Scope
from berth.web.access import Visitor
from berth.web.render import page, shown

router = APIRouter(include_in_schema=False)
RESULTS = 10


@router.get("/vectors")
async def stores_page(request: Request) -> Response:
    async def build(who: Visitor) -> Response:
        found = services(request)
        stores = await found.vectors.list_stores(who.key, limit=100)
        now = found.vectors.clock.now()
        context = {"title": "Vector stores", "stores": stores, "now": now}
        return page(request, who, "vectors.html", context)

    return await shown(request, Scope.JOBS, build)


@router.get("/vectors/{store_id}")
async def store_page(request: Request, store_id: str) -> Response:
    async def build(who: Visitor) -> Response:
        vectors = services(request).vectors
        store = await vectors.get_store(who.key, store_id)
        files = await vectors.list_files(who.key, store_id, limit=100)
        query = request.query_params.get("q", "").strip()
        results = (
            await vectors.search(who.key, store_id, [query], max_num_results=RESULTS)
            if query
            else []
        )
        context = {
            "title": store.name or store.id,
            "store": store,
            "files": files,
            "query": query,
            "results": results,
            "now": vectors.clock.now(),
        }
        return page(request, who, "vector_store.html", context)

    return await shown(request, Scope.JOBS, build)
