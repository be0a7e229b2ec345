"""``bench/http_embeddings.py``: Berth, LitServe and Infinity serving all-MiniLM-L6-v2 over
HTTP, next to the same model called in-process."""
