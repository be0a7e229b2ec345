"""The model-pool benchmark (``bench/pool.py``)."""
