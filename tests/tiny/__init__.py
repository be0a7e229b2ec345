"""Tiny models built from configs for tests: real architectures, random weights, tokenizers
built here. Each module writes one model's files into a directory a catalog entry can name
with ``local:``."""
