"""The ``berth`` command: one module per command group."""
