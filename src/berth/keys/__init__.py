"""API keys: the record, the key-store port with its adapters, and per-key request limits."""
