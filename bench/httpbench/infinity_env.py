"""Infinity's own virtual environment: it pins sentence-transformers < 4 and numpy < 2, which
the project's environment cannot hold. Built once under bench/out/, reused while its pins
stay the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import SetupFailed

REPO_ROOT = Path(__file__).resolve().parents[2]
CPU_LOCK = REPO_ROOT / "lock" / "cpu" / "base.txt"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _locked_torch() -> str:
    """Berth's locked CPU torch (``torch==X+cpu``), so both servers run the same math."""
    for line in CPU_LOCK.read_text().splitlines():
        if line.startswith("torch=="):
            return line.split()[0]
    raise SetupFailed(f"{CPU_LOCK} pins no torch: run scripts/lock.")


REQUIREMENTS = (_locked_torch(), "infinity-emb[server,torch]==0.0.78")
STAMP = "berth-bench-requirements.txt"
INSTALL_TIMEOUT_S = 1200
PACKAGES = ("infinity-emb", "torch", "sentence-transformers", "transformers", "numpy", "uvicorn")
VERSIONS_SCRIPT = """
import json, sys
from importlib.metadata import PackageNotFoundError, version
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = version(name)
    except PackageNotFoundError:
        found[name] = "not installed"
print(json.dumps(found))
"""


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _wanted() -> str:
    return "\n".join(REQUIREMENTS) + "\n"


def _run(argv: list[str], log: Path, what: str) -> None:
    with log.open("ab") as out:
        try:
            done = subprocess.run(
                argv, check=False, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SetupFailed(f"Could not {what}: {exc}. See {log}.") from exc
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
        raise SetupFailed(f"Could not {what} (exit code {done.returncode}). See {log}:\n{tail}")


def ensure(venv: Path, log: Path) -> Path:
    """The venv's Python, after creating the venv and installing Infinity if needed."""
    stamp = venv / STAMP
    if stamp.is_file() and stamp.read_text() == _wanted():
        return python_of(venv)
    print(f"  building Infinity's environment in {venv} (once) ...", file=sys.stderr, flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)], log, f"create a virtual environment {venv}")
    pip = [str(python_of(venv)), "-m", "pip", "install", "--disable-pip-version-check"]
    _run([*pip, *_torch_index(pip), *REQUIREMENTS], log, "install " + " ".join(REQUIREMENTS))
    stamp.write_text(_wanted())
    return python_of(venv)


def _torch_index(pip: list[str]) -> list[str]:
    """PyTorch's CPU index, unless pip finds the locked wheel where this machine keeps wheels
    (as scripts/bootstrap decides)."""
    probe = [*pip, "--quiet", "--dry-run", "--no-index", "--no-deps", REQUIREMENTS[0]]
    found = subprocess.run(probe, check=False, capture_output=True, timeout=120)
    return [] if found.returncode == 0 else ["--extra-index-url", TORCH_CPU_INDEX]


def versions(python: Path) -> dict[str, str]:
    """Versions of Infinity and what it runs on, as installed in its environment."""
    done = subprocess.run(
        [str(python), "-c", VERSIONS_SCRIPT, *PACKAGES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-300:]}
    found: dict[str, str] = json.loads(done.stdout)
    return found
