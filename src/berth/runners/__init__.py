"""Runners: one backend for one task each, registered through the ``berth.runners`` hook."""
