"""The ``diffusers`` runner: text-to-image with a diffusers pipeline (Stable Diffusion, SDXL,
SDXL-Turbo and the other pipelines whose call reports each step).

Inputs are :class:`~berth.tasks.image.ImageRequest` items. ``stream`` yields a
:class:`~berth.tasks.image.Progress` after every denoising step and then the
:class:`~berth.tasks.image.GeneratedImages` (PNG bytes); ``run`` returns only the latter.
The pipeline call blocks until its last step, so it runs on a helper thread that passes each
step through a queue as it happens; a request whose caller left is stopped at its next step.
A :class:`~berth.tasks.denoise.DenoiseRequest` is answered with the denoising losses of its
image instead (:mod:`berth.runners.diffusion_loss`). With the ``adapter`` option (a model a
``train`` job made) the LoRA is put on the UNet at load, after its sha256 is checked, through
the same PEFT layers the trainer draws its sample images with
(:mod:`berth.training.diffusion_adapter`). Requests of one batch are drawn one
after the other, each with its own seeded generator, so
the same request with the same seed gives the same PNG bytes.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import io
import queue
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import Cancelled, check_options, never_cancelled
from berth.runners.diffusion_loss import check_request, denoise_losses
from berth.tasks.denoise import DenoiseRequest
from berth.tasks.image import SIDE_STEP, GeneratedImages, ImageRequest, Progress, check, parse_size

OPTIONS = {
    "steps": "Denoising steps when a request names none (default 30; 1 to 4 for turbo models).",
    "guidance_scale": "Classifier-free guidance when a request names none (default: the "
    "pipeline's own; 0 for turbo models).",
    "size": "WIDTHxHEIGHT of a request that names none (default: the pipeline's own, such as "
    "1024x1024 for SDXL).",
    "variant": "The weights variant to load, such as 'fp16' (default: fp16 when only fp16 "
    "weights are in the model's folder).",
    "adapter": "A folder whose adapter_model.safetensors is a LoRA from a `train` job, put on "
    "the UNet at load (a trained model).",
    "adapter_sha256": "The sha256 the adapter's weights must have (checked at load).",
    "adapter_base": "The catalog alias of the base the adapter was trained on.",
}
DEFAULT_STEPS = 30
SEED_RANGE = 2**32
"""Seeds drawn for requests that give none are below this (easy to read and retype)."""


@dataclass(frozen=True)
class Plan:
    """A request with the model's defaults filled in: exactly what will be drawn."""

    request: ImageRequest
    width: int
    height: int
    steps: int
    seed: int
    guidance_scale: float | None


class Stopped(Exception):
    """Raised from the step callback to end a pipeline call whose caller left."""


_STOPPED = object()
Chunk = Progress | GeneratedImages | BaseException | object


def torch_dtype(name: str, device: str) -> Any:
    """The torch dtype for a catalog ``dtype``: ``auto`` is float16 on CUDA, float32 else."""
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def weights_variant(path: Path) -> str | None:
    """``fp16`` when the folder holds fp16 weights without their full-precision twins (as a
    pull of only the fp16 files leaves it), else None."""
    for weights in path.glob("*/*.fp16.safetensors"):
        plain = weights.with_name(weights.name.replace(".fp16.", "."))
        if not plain.exists():
            return "fp16"
    return None


def to_png(image: Any) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class DiffusionRunner:
    """Draws images for prompts with one diffusers text-to-image pipeline."""

    def __init__(self) -> None:
        self._pipe: Any = None
        self._device = "cpu"
        self._options: dict[str, Any] = {}
        self._size = (512, 512)
        self._multiple = SIDE_STEP

    def load(self, spec: ModelSpec, path: Path | None, device: str) -> None:
        if path is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}' has no files: the diffusers runner loads a pipeline "
                "folder (with model_index.json). Give the catalog entry a source."
            )
        check_options(spec, "diffusers", OPTIONS)
        self._options = dict(spec.options.runner_options)
        self._pipe = self._open(spec, path, device)
        self._device = device
        side, self._multiple = self._geometry(self._pipe)
        self._size = self._default_size(spec, side)

    def _default_size(self, spec: ModelSpec, side: int) -> tuple[int, int]:
        if "size" not in self._options:
            return side, side
        try:
            return parse_size(str(self._options["size"]))
        except errors.InvalidRequest as exc:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': runner option size: {exc.message}"
            ) from exc

    def _open(self, spec: ModelSpec, path: Path, device: str) -> Any:
        import diffusers
        import transformers

        quiet: list[Callable[[], None]] = [
            diffusers.utils.logging.disable_progress_bar,
            transformers.utils.logging.disable_progress_bar,
        ]
        for call in quiet:
            call()
        pipeline_class: Any = diffusers.DiffusionPipeline
        variant = self._options.get("variant") or weights_variant(path)
        # diffusers renamed torch_dtype to dtype (warning on the old name) in its 0.3x series.
        renamed = hasattr(diffusers.utils.deprecation_utils, "_resolve_dtype")
        loading: dict[str, Any] = {
            "dtype" if renamed else "torch_dtype": torch_dtype(spec.options.dtype, device)
        }
        if importlib.util.find_spec("accelerate") is None:
            loading["low_cpu_mem_usage"] = False  # what diffusers falls back to, without a warning
        try:
            pipe = pipeline_class.from_pretrained(
                str(path), local_files_only=True, variant=variant, **loading
            )
        except (OSError, ValueError, TypeError) as exc:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': {path} is not a diffusers pipeline Berth can load "
                f"({exc}). Pull the model again or point the entry at a pipeline folder."
            ) from exc
        if "callback_on_step_end" not in inspect.signature(pipe.__call__).parameters:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': its pipeline {type(pipe).__name__} cannot report "
                "denoising steps, which the diffusers runner needs. Use a text-to-image "
                "pipeline such as Stable Diffusion or SDXL."
            )
        pipe.set_progress_bar_config(disable=True)
        if self._options.get("adapter"):
            self._with_adapter(spec, pipe, Path(str(self._options["adapter"])))
        return pipe.to(device)

    def _with_adapter(self, spec: ModelSpec, pipe: Any, folder: Path) -> None:
        """Put the LoRA in ``folder`` on the pipeline's UNet, its sha256 checked first."""
        from berth.training.checkpoints import checked_adapter
        from berth.training.diffusion_adapter import load_adapter

        weights = checked_adapter(spec.alias, folder, self._options.get("adapter_sha256"))
        if getattr(pipe, "unet", None) is None:
            raise errors.ModelLoadFailed(
                f"Model '{spec.alias}': its pipeline {type(pipe).__name__} has no UNet to put "
                "the adapter on; Berth trains and serves LoRAs on UNet pipelines."
            )
        try:
            load_adapter(pipe.unet, weights)
        except errors.ModelLoadFailed as exc:
            raise errors.ModelLoadFailed(f"Model '{spec.alias}': {exc.message}") from exc

    @staticmethod
    def _geometry(pipe: Any) -> tuple[int, int]:
        """The pipeline's default image side and the multiple every side must be."""
        factor = int(getattr(pipe, "vae_scale_factor", 8) or 8)
        denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
        side = getattr(pipe, "default_sample_size", None) or sample
        return (int(side) * factor if isinstance(side, int) else 512), max(SIDE_STEP, factor)

    def run(self, batch: Sequence[Any]) -> list[Any]:
        outputs: list[Any] = [None] * len(batch)
        for index, chunk in self.stream(batch):
            if not isinstance(chunk, Progress):
                outputs[index] = chunk
        return outputs

    def stream(
        self, batch: Sequence[Any], cancelled: Cancelled = never_cancelled
    ) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(batch):
            if cancelled(index):
                continue
            if isinstance(item, DenoiseRequest):
                yield index, self.losses(item)
                continue
            try:
                plan = self.plan(item)
            except errors.InvalidRequest as exc:
                yield index, exc
                continue
            for chunk in self._draw(plan, functools.partial(cancelled, index)):
                yield index, chunk

    def losses(self, request: DenoiseRequest) -> Any:
        """The denoising losses of one image (see :mod:`berth.runners.diffusion_loss`), or
        the error that stopped them."""
        try:
            check_request(request, self._multiple)
            return denoise_losses(self._pipe, request)
        except errors.InvalidRequest as exc:
            return exc
        except (RuntimeError, ValueError) as exc:
            return self._failure(exc)

    def plan(self, item: Any) -> Plan:
        """The request with this model's defaults; raises InvalidRequest if it is out of
        range."""
        if not isinstance(item, ImageRequest):
            raise errors.InvalidRequest(
                f"The diffusers runner draws ImageRequest items, not {type(item).__name__}."
            )
        check(item)
        width, height = item.width or self._size[0], item.height or self._size[1]
        for name, side in (("width", width), ("height", height)):
            if side % self._multiple:
                raise errors.InvalidRequest(
                    f"{name} is {side} pixels; this model needs a multiple of {self._multiple}."
                )
        steps = item.steps or int(self._options.get("steps", DEFAULT_STEPS))
        seed = item.seed if item.seed is not None else random.randrange(SEED_RANGE)
        guidance = item.guidance_scale
        if guidance is None and "guidance_scale" in self._options:
            guidance = float(self._options["guidance_scale"])
        return Plan(item, width, height, steps, seed, guidance)

    def _draw(self, plan: Plan, gone: Callable[[], bool]) -> Iterator[Chunk]:
        """The chunks of one request, each as soon as the helper thread makes it."""
        chunks: queue.SimpleQueue[Chunk] = queue.SimpleQueue()
        stop = threading.Event()

        def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
            if stop.is_set() or gone():
                raise Stopped
            total = int(getattr(pipe, "num_timesteps", 0) or plan.steps)
            chunks.put(Progress(step + 1, total))
            return tensors

        def work() -> None:
            try:
                chunks.put(self._generate(plan, on_step))
            except Stopped:
                chunks.put(_STOPPED)
            except Exception as exc:
                chunks.put(exc)

        helper = threading.Thread(target=work, name="berth-diffusion-call", daemon=True)
        helper.start()
        try:
            while (chunk := chunks.get()) is not _STOPPED:
                if isinstance(chunk, BaseException):
                    yield self._failure(chunk)
                    return
                yield chunk
                if isinstance(chunk, GeneratedImages):
                    return
        finally:
            stop.set()
            helper.join()

    def _failure(self, exc: BaseException) -> BaseException:
        """A pipeline error as one request's error that survives pickling."""
        if isinstance(exc, errors.BerthError):
            return exc
        if isinstance(exc, ValueError):
            return errors.InvalidRequest(f"The pipeline refused the request: {exc}")
        return errors.ModelError(f"The diffusers pipeline failed: {type(exc).__name__}: {exc}")

    def _generate(self, plan: Plan, on_step: Callable[..., Any]) -> GeneratedImages:
        import torch

        request = plan.request
        arguments: dict[str, Any] = {
            "prompt": request.prompt,
            "width": plan.width,
            "height": plan.height,
            "num_inference_steps": plan.steps,
            "num_images_per_prompt": request.n,
            "generator": torch.Generator("cpu").manual_seed(plan.seed),
            "callback_on_step_end": on_step,
            "output_type": "pil",
        }
        if request.negative_prompt:
            arguments["negative_prompt"] = request.negative_prompt
        if plan.guidance_scale is not None:
            arguments["guidance_scale"] = plan.guidance_scale
        with torch.inference_mode():
            images = self._pipe(**arguments).images
        return GeneratedImages(
            tuple(to_png(image) for image in images), plan.seed, plan.width, plan.height, plan.steps
        )

    def memory_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        self._pipe = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
