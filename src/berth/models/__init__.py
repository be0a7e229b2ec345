"""Models: the catalog of allowed models, the verified offline cache, and manifests."""
