"""Evaluations (OpenAI's Evals API): an eval names what its items hold and how each sample is
graded; a run evaluates one data source (a JSONL file, inline items, or a model's completions
of them) as a durable job, each sample's output and grades recorded as it finishes.
"""
