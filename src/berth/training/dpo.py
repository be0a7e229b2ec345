"""The DPO LoRA trainer (``method: dpo``): the supervised trainer's loop, plan, LoRA set-up
and checkpoints, with Direct Preference Optimization's loss

    -logsigmoid(beta * ((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)))

over the answers' tokens, where the reference log-probs are the base model's own (the same
model with the adapter disabled), so no second copy of the weights is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from berth.training.examples import IGNORED, Example
from berth.training.lora import AdapterTrainer, TrainingPlan
from berth.training.preferences import Pair, Preference, encode_pair


class DpoTrainer(AdapterTrainer[Pair]):
    """LoRA trained on preferences: the preferred answer made likelier than the other,
    relative to the base model."""

    def examples(self, plan: TrainingPlan, context: int) -> tuple[list[Pair], list[Pair]]:
        def one(preference: Preference) -> Pair:
            return encode_pair(self.tokenizer, preference, context)

        return (
            self.encoded(plan.preferences, one, "training_file"),
            self.encoded(plan.validation_preferences, one, "validation_file"),
        )

    def log_probs(self, examples: Sequence[Example]) -> Any:
        """Each example's summed log-prob of its labelled tokens under the current model."""
        torch = self._torch
        tensors = self.tensors(examples)
        logits = self.model(
            input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]
        ).logits[:, :-1]
        labels = tensors["labels"][:, 1:]
        counted = labels != IGNORED
        per_token = torch.log_softmax(logits.float(), dim=-1)
        picked = per_token.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * counted).sum(dim=-1)

    def _rewards(self, batch: Sequence[Pair]) -> tuple[Any, Any]:
        """beta times the policy's log-ratio to the base, for the chosen and rejected answers."""
        torch = self._torch
        both = [p.chosen for p in batch] + [p.rejected for p in batch]
        policy = self.log_probs(both)
        with torch.no_grad(), self.model.disable_adapter():
            reference = self.log_probs(both)
        ratio = self.plan.hyperparameters.beta * (policy - reference)
        return ratio[: len(batch)], ratio[len(batch) :]

    def loss(self, batch: Sequence[Pair]) -> tuple[Any, int, dict[str, float]]:
        chosen, rejected = self._rewards(batch)
        margin = chosen - rejected
        loss = -self._torch.nn.functional.logsigmoid(margin).mean()
        tokens = sum(len(p.chosen.input_ids) + len(p.rejected.input_ids) for p in batch)
        metrics = {
            "reward_margin": float(margin.detach().mean()),
            "reward_accuracy": float((margin.detach() > 0).float().mean()),
        }
        return loss, tokens, metrics

    def validation_loss(self) -> float | None:
        """The mean DPO loss over the validation preferences (None without any)."""
        if not self.validation:
            return None
        self.model.eval()
        with self._torch.no_grad():
            losses = [float(self.loss([pair])[0]) for pair in self.validation]
        self.model.train()
        return sum(losses) / len(losses)

    def preference_margins(self, pairs: Sequence[Pair]) -> list[float]:
        """log p(preferred) - log p(rejected) under the adapted model, for each pair."""
        self.model.eval()
        with self._torch.no_grad():
            chosen = self.log_probs([p.chosen for p in pairs])
            rejected = self.log_probs([p.rejected for p in pairs])
        self.model.train()
        return [float(v) for v in (chosen - rejected)]
