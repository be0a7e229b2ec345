"""The services: the only API the CLI, the HTTP API and the web UI call."""
