"""LoRA adapters on a causal LM: merged into the model at load, or hosted side by side.

A catalog entry with an ``adapter`` runner option is loaded with the adapter merged in
(:func:`merged`). The pool sends every adapter entry over one base to one model process that
holds the base unmerged: there :class:`HostedAdapters` loads each adapter once, on the first
request that names it (``GenerationRequest.adapter``), and the decoder runs each row of a
batch with its own adapter (PEFT's per-row ``adapter_names``, :data:`BASE` for none). Either
way the adapter's weights must match their sha256 before they serve.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from berth import errors
from berth.tasks.generate import AdapterRef
from berth.training.checkpoints import checked_adapter

BASE = "__base__"
"""PEFT's name, in ``adapter_names``, for a row that runs on the base alone."""


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # PEFT 0.21 reads a property transformers 5.2x deprecated; nothing for us to change.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        yield


def merged(name: str, model: Any, folder: Path, sha256: str) -> Any:
    """``model`` with the LoRA adapter in ``folder`` merged in, its weights' sha256 checked."""
    from peft import PeftModel

    checked_adapter(name, folder, sha256)
    with _quiet():
        adapted = PeftModel.from_pretrained(model, folder, is_trainable=False)
    return adapted.merge_and_unload()


class HostedAdapters:
    """The adapters one resident base has loaded, by folder and sha256.

    ``model`` is the base until the first adapter loads, then the PEFT model around it (the
    base's weights are shared, never copied). Each adapter gets an internal PEFT name
    (``a0``, ``a1``, ...), since catalog aliases hold dots PEFT cannot take as names.
    """

    def __init__(self, model: Any, device: str) -> None:
        self.model = model
        self._device = device
        self._names: dict[tuple[str, str], str] = {}

    @property
    def hosting(self) -> bool:
        """Whether an adapter is loaded (rows must then name theirs, or :data:`BASE`)."""
        return bool(self._names)

    def name_for(self, ref: AdapterRef) -> str:
        """The internal name of ``ref``'s adapter, loading (and checking) it on first use."""
        key = (ref.folder, ref.sha256)
        name = self._names.get(key)
        if name is None:
            name = self._load(ref, f"a{len(self._names)}")
            self._names[key] = name
        return name

    def _load(self, ref: AdapterRef, name: str) -> str:
        folder = Path(ref.folder)
        checked_adapter(ref.name, folder, ref.sha256)
        try:
            with _quiet():
                self._attach(folder, name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise errors.ModelLoadFailed(
                f"Model '{ref.name}': the adapter at {folder} could not be loaded on this "
                f"base ({exc}). Check that it was trained on this base model."
            ) from exc
        return name

    def _attach(self, folder: Path, name: str) -> None:
        from peft import PeftModel

        if self._names:
            self.model.load_adapter(
                folder, adapter_name=name, is_trainable=False, torch_device=self._device
            )
        else:
            self.model = PeftModel.from_pretrained(
                self.model, folder, adapter_name=name, is_trainable=False,
                torch_device=self._device,
            )  # fmt: skip
        self.model.eval()
