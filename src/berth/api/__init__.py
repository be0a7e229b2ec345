"""The HTTP API: thin routers over the services, OpenAI-shaped errors, SSE streams."""
