"""Vector stores (OpenAI's Vector Stores API): files chunked, embedded by a catalog embedding
model, and searched by meaning, with attribute filters and a score threshold.

The records (stores, their files, file batches) sit behind one port (:mod:`.store`), the chunks
and their vectors behind another (:mod:`.index`): sqlite-vec on SQLite, pgvector (HNSW) on
PostgreSQL, and the in-memory fakes (:mod:`.memory`). How a search uses an approximate index
with a filter is written once, in :mod:`.search`.
"""
