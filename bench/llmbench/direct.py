"""The baseline: the same model's ``generate`` in this process, greedy, exactly
``max_tokens`` new tokens (``min_new_tokens`` keeps it from stopping at end-of-sequence)."""

from __future__ import annotations

import time
from typing import Any

from .workload import PROMPTS, Workload


class Clock:
    """A streamer that notes when each step's tokens arrive (works for batches, unlike
    TextIteratorStreamer; decoding text is left out of both sides' timings the same way)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.steps: list[float] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.steps.append(time.perf_counter())

    def end(self) -> None:
        pass


class Direct:
    def __init__(self, work: Workload) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.work = work
        self.tokenizer = AutoTokenizer.from_pretrained(work.model_dir, local_files_only=True)
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(
            work.model_dir, local_files_only=True, dtype=torch.float32
        ).eval()

    def generate(self, prompts: list[str]) -> tuple[float, float, int]:
        """Seconds to first token, total seconds, tokens made, for one batched generate."""
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True)
        clock = Clock()
        n = self.work.max_tokens
        out = self.model.generate(
            **inputs,
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            streamer=clock,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        made = (out.shape[1] - inputs["input_ids"].shape[1]) * len(prompts)
        return clock.steps[0] - clock.started, clock.steps[-1] - clock.started, int(made)

    def one_round(self, streams: int) -> dict[str, float]:
        """1 stream: one prompt at a time, each its own generate; 8: one batched generate."""
        if streams == 1:
            runs = [self.generate([prompt]) for prompt in PROMPTS[:3]]
            ttft = sorted(r[0] for r in runs)[1]
            rate = sum(r[2] for r in runs) / sum(r[1] for r in runs)
        else:
            ttft, seconds, made = self.generate(PROMPTS[:streams])
            rate = made / seconds
        return {"tokens_per_s": rate, "ttft_ms": ttft * 1000}
