"""The composition root: builds the stores, the plugins, the model pool and every service from
Settings, once. The CLI, the HTTP API, the web UI and the dispatcher receive them from here."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from berth.agents.host import AgentHost
from berth.clock import Clock
from berth.db.stores import open_stores
from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.paths import DataRoots
from berth.keys.limiter import RequestLimiter
from berth.media.audio import AudioLimits
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import PluginRegistry, discover
from berth.pool.pool import ModelPool
from berth.pool.reporter import Reporter
from berth.services import Services
from berth.services.agents import AgentService
from berth.services.audio import AudioService
from berth.services.evals import EvalService
from berth.services.files import FileService
from berth.services.fine_tuning import FineTuningService
from berth.services.images import ImageService
from berth.services.inference import InferenceService
from berth.services.jobs import JobService
from berth.services.keys import KeyService
from berth.services.memory import ConversationMemory
from berth.services.models import ModelService
from berth.services.ocr import OcrService
from berth.services.realtime import RealtimeService
from berth.services.speech import SpeechService
from berth.services.status import StatusService
from berth.services.vectors import VectorService
from berth.settings import Settings


class Berth:
    """One Berth: ``async with Berth(settings) as berth:`` opens the stores and the model pool
    (which loads models only when asked), and closes both on the way out. ``berth.services``
    is what every entry point calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: PluginRegistry | None = None,
        clock: Clock | None = None,
        upgrade: bool = True,
    ) -> None:
        self.settings = settings
        self.registry = registry or discover()
        self.clock = clock
        self.stores = open_stores(settings.resolved_database_url, clock=clock, upgrade=upgrade)
        self.catalog = Catalog.load(settings, self.registry.runners)
        self.cache = ModelCache(settings)
        self.pool = ModelPool(
            settings, self.catalog.get, self.cache.path_for, self.registry.runners, clock=clock
        )
        self.services = build_services(self)
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.stores)
            await self.services.agents.load_sources()
            await stack.enter_async_context(self.pool)
            await self.services.fine_tuning.publish_finished()
            await self.services.fine_tuning.image_models.publish_finished()
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    def dispatcher(self) -> Dispatcher:
        """A dispatcher over this Berth's store and kinds (not yet started); its jobs reach
        the models through the inference service, after online requests."""
        dispatcher = Dispatcher(
            self.stores.jobs,
            self.registry.kinds,
            DispatcherConfig.from_settings(self.settings),
            clock=self.clock,
            models=self.services.inference.for_jobs(),
            pulls=self.services.models,
            files=self.services.files,
            evals=self.stores.evals,
            vectors=self.services.vectors,
            training=self.services.fine_tuning,
            agents=self.services.agents.host,
        )
        self.services.status.dispatcher = dispatcher
        return dispatcher

    def reporter(self, worker_id: str) -> Reporter:
        """Reports this Berth's loaded models for ``worker_id`` while it is entered."""
        every = self.settings.heartbeat_seconds
        return Reporter(self.pool, self.stores.jobs, worker_id, every=every)


def build_services(berth: Berth) -> Services:
    """Every service, each built once, over ``berth``'s stores, catalog, cache and pool."""
    settings, jobs_store = berth.settings, berth.stores.jobs
    inference = InferenceService(
        berth.catalog,
        berth.pool,
        load_wait=settings.load_wait_seconds,
        features={name: runner.features for name, runner in berth.registry.runners.items()},
    )
    jobs = JobService(
        jobs_store,
        berth.registry,
        inference,
        default_attempts=settings.max_attempts,
        roots=DataRoots(settings.home, settings.data_dirs),
        outputs_dir=settings.outputs_dir,
    )
    files = FileService(
        berth.stores.files, settings.files_dir, max_bytes=settings.max_file_bytes, clock=berth.clock
    )
    limiter = RequestLimiter(settings.rate_limit_storage)
    uploads = AudioLimits(
        max_bytes=settings.max_request_bytes, max_seconds=settings.max_audio_seconds
    )
    models = ModelService(
        berth.catalog,
        berth.cache,
        jobs_store,
        runners=berth.registry.runners,
        pool=berth.pool,
        live_seconds=settings.lease_seconds,
    )
    keys = KeyService(berth.stores.keys, limiter, clock=berth.clock)
    files = FileService(
        berth.stores.files, settings.files_dir, max_bytes=settings.max_file_bytes, clock=berth.clock
    )
    fine_tuning = FineTuningService(
        berth.stores.fine_tuning,
        files,
        jobs,
        berth.catalog,
        berth.cache,
        berth.pool,
        berth.registry.trainer_for,
        outputs_dir=settings.outputs_dir,
        clock=berth.clock,
    )
    vectors = VectorService(
        berth.stores.vector_records,
        berth.stores.vector_index,
        files=files,
        jobs=jobs,
        inference=inference,
        tokenizer_path=lambda alias: berth.cache.path_for(berth.catalog.get(alias)),
        clock=berth.clock,
    )
    return Services(
        settings=settings,
        inference=inference,
        jobs=jobs,
        files=files,
        evals=EvalService(
            berth.stores.evals,
            jobs,
            files,
            inference,
            clock=berth.clock,
            manifests=berth.cache.manifest,
        ),
        fine_tuning=fine_tuning,
        keys=keys,
        models=models,
        images=ImageService(inference, jobs),
        audio=AudioService(inference, uploads),
        speech=SpeechService(inference),
        ocr=OcrService(inference),
        realtime=RealtimeService(
            inference,
            keys,
            transcription_model=settings.realtime_transcription_model,
            speech_model=settings.realtime_speech_model,
            vad_model=settings.realtime_vad_model,
            vectors=vectors,
            memory=ConversationMemory(vectors),
        ),
        status=StatusService(
            jobs_store, berth.pool, jobs, heartbeat_seconds=settings.heartbeat_seconds
        ),
        agents=AgentService(
            AgentHost(berth.registry.tools, berth.stores.agent_steps, settings), jobs
        ),
        vectors=vectors,
    )
