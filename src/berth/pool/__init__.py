"""The model pool: keeps models resident within a memory budget and batches their requests.

:class:`~berth.pool.pool.ModelPool` is the entry point; see ``ARCHITECTURE.md`` for the map.
"""
