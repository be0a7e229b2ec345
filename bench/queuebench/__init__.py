"""The job-queue benchmark behind ``bench/queue.py``: Berth, procrastinate and huey."""
