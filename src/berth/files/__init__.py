"""Uploaded files (OpenAI's Files API): what evals, fine-tunes and vector stores read.

A file's bytes live under ``BERTH_HOME/files/`` (written whole, then renamed into place), its
record (name, purpose, size, sha256, owner) in the database beside the jobs.
"""
