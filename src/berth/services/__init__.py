"""The services: the only API the CLI, the HTTP API, the web UI and the job kinds call.

:class:`Services` is every one of them, built once by the composition root
(:class:`berth.app.Berth`) and handed to each entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.services.agents import AgentService
from berth.services.audio import AudioService
from berth.services.evals import EvalService
from berth.services.files import FileService
from berth.services.fine_tuning import FineTuningService
from berth.services.images import ImageService
from berth.services.inference import InferenceService
from berth.services.jobs import JobService
from berth.services.keys import KeyService
from berth.services.models import ModelService
from berth.services.ocr import OcrService
from berth.services.realtime import RealtimeService
from berth.services.speech import SpeechService
from berth.services.status import StatusService
from berth.services.vectors import VectorService
from berth.settings import Settings


@dataclass(frozen=True)
class Services:
    """Every service of one Berth."""

    settings: Settings
    inference: InferenceService
    jobs: JobService
    files: FileService
    evals: EvalService
    fine_tuning: FineTuningService
    keys: KeyService
    models: ModelService
    images: ImageService
    audio: AudioService
    speech: SpeechService
    ocr: OcrService
    realtime: RealtimeService
    status: StatusService
    vectors: VectorService
    agents: AgentService
