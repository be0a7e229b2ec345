"""Devices: which one a model runs on, how much memory it has, and what a process holds on it.

CUDA figures come from NVML (the optional ``nvidia-ml-py`` package) when it is installed,
since it sees every process on the GPU without creating a CUDA context here; otherwise from
torch, which is imported only when a CUDA device is asked about.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import sys
from pathlib import Path
from typing import Any

import psutil

from berth import errors

log = logging.getLogger(__name__)
CPU = "cpu"
CPU_SHARE = 0.5
"""The share of RAM that loaded models may hold when no budget is set for ``cpu``."""
CUDA_SHARE = 0.9
"""The share of a GPU's memory that loaded models may hold when no budget is set for it."""
NVIDIA_DRIVER = Path("/proc/driver/nvidia")
_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def normalize(device: str) -> str:
    """``cpu`` or ``cuda:N`` (``cuda`` means ``cuda:0``); raises ConfigError otherwise."""
    if device == CPU:
        return CPU
    match = _CUDA.match(device)
    if not match:
        raise errors.ConfigError(f"'{device}' is not a device: use cpu, cuda or cuda:N.")
    return f"cuda:{match.group(1) or 0}"


def resolve(requested: str) -> str:
    """The device a model asking for ``requested`` runs on (``auto``: the first GPU, if any)."""
    if requested != "auto":
        return normalize(requested)
    return "cuda:0" if cuda_count() > 0 else CPU


def index_of(device: str) -> int:
    """The GPU number of ``cuda:N``."""
    return int(device.partition(":")[2] or 0)


@functools.cache
def _nvml() -> Any:
    """The initialised ``pynvml`` module, or None where NVML is not installed or has no GPU."""
    try:
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:
        return None
    return nvml


@functools.cache
def cuda_count() -> int:
    """How many GPUs this machine has (0 without NVML and without a CUDA build of torch).

    Without an NVIDIA driver the answer is 0 at once: torch is not imported just to ask.
    """
    nvml = _nvml()
    if nvml is not None:
        return int(nvml.nvmlDeviceGetCount())
    if not NVIDIA_DRIVER.exists():
        return 0
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def total_bytes(device: str) -> int:
    """The memory a device has: RAM for ``cpu``, the GPU's memory for ``cuda:N``."""
    if device == CPU:
        return int(psutil.virtual_memory().total)
    nvml = _nvml()
    if nvml is not None:
        handle = nvml.nvmlDeviceGetHandleByIndex(index_of(device))
        return int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
    import torch

    return int(torch.cuda.mem_get_info(index_of(device))[1])


def free_bytes(device: str) -> int | None:
    """Memory no process holds on the device right now (None where it cannot be seen)."""
    if device == CPU:
        return int(psutil.virtual_memory().available)
    nvml = _nvml()
    if nvml is None:
        return None
    handle = nvml.nvmlDeviceGetHandleByIndex(index_of(device))
    return int(nvml.nvmlDeviceGetMemoryInfo(handle).free)


def default_budget(device: str) -> int:
    """What loaded models may hold on a device without a configured budget."""
    share = CPU_SHARE if device == CPU else CUDA_SHARE
    return int(total_bytes(device) * share)


def process_rss(pid: int) -> int | None:
    """The resident set of a process, or None if it is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def process_gpu_bytes(pid: int, device: str) -> int | None:
    """What NVML says ``pid`` holds on a GPU (its CUDA context included), if NVML can tell."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index_of(device))
        processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:
        return None
    used = [p.usedGpuMemory for p in processes if p.pid == pid and p.usedGpuMemory is not None]
    return int(sum(used)) if used else None


def cuda_reserved(device: str) -> int | None:
    """``torch.cuda.memory_reserved`` on a CUDA device, if this process has used torch."""
    if not device.startswith("cuda") or "torch" not in sys.modules:
        return None
    torch = sys.modules["torch"]
    return int(torch.cuda.memory_reserved(device))
