"""Durable jobs: the record, the store port and its adapters, the dispatcher and reaper."""
