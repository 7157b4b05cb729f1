"""The composition root: every component of the service made from one `Settings`, once, here.

`build_state(settings)` makes what the settings alone make (gallery store, audit trail, keys, limits,
the /tracks configuration), with the app; `load_runtime(settings, metrics)` makes what needs the
model (engine session, micro-batcher, embedder, the person detector, memory budget), in the
lifespan, off the event loop where it blocks. Nothing else maps settings onto components; routes
receive them through FastAPI dependencies (service/api/deps.py).
"""

from __future__ import annotations

import asyncio
import logging

from service.audit import AuditLog, open_audit
from service.core.budget import MIB, MemoryBudget, budget_from_limit, cgroup_memory_limit, physical_memory
from service.core.config import Settings
from service.core.memory import resident_bytes, trim_heap
from service.core.metrics import Metrics
from service.core.security import KeyRing
from service.detection.detector import PersonDetector, SharedDetector
from service.detection.tracker import INSTALL as TRACKERS_INSTALL
from service.gallery import matrix_factory
from service.gallery.base import GalleryStore
from service.gallery.memory_store import MemoryStore
from service.gallery.redis_store import RedisStore
from service.inference.batcher import MicroBatcher, OnBatch, RunBatch
from service.inference.embedder import Embedder
from service.inference.engine import EngineUnavailable
from service.inference.hardware import Hardware
from service.inference.session import ModelSession
from service.media.decode import MediaLimits
from service.state import AppState, Runtime
from service.tracks.config import TracksConfig
from service.tracks.crops import FootageLimits
from service.tracks.plan import CropRules
from service.tracks.trackfile import TrackFileLimits

log = logging.getLogger("service")


def build_state(settings: Settings, metrics: Metrics) -> AppState:
    limits = media_limits(settings)
    gallery, store = build_store(settings)
    return AppState(
        settings=settings,
        metrics=metrics,
        store=store,
        gallery=gallery,
        audit=build_audit(settings),
        keys=build_keys(settings),
        limits=limits,
        tracks=tracks_config(settings, limits),
    )


def build_store(settings: Settings) -> tuple[str, GalleryStore]:
    """The gallery store the settings choose, and its name (GET /readyz: `gallery`). Searches run on
    one in-memory matrix per model, exact or indexed. A new store is one class and one line here.
    Nothing connects here; a remote store connects on first use."""
    matrices = matrix_factory(
        settings.gallery_index, min_rows=settings.gallery_index_min_rows, nprobe=settings.gallery_index_nprobe
    )
    if settings.milvus_uri is not None:
        return "milvus", milvus_store(settings)
    if settings.redis_url is not None:
        return "redis", RedisStore(settings.redis_url, settings.redis_namespace, matrices=matrices)
    return "memory", MemoryStore(matrices)


def milvus_store(settings: Settings) -> GalleryStore:
    """The gallery in Milvus (REID_MILVUS_URI): searches run in Milvus, the replica keeps no copy.
    Redis, when set, holds the per-id enrolment locks, the thumbnails and the audit trail. A missing
    client (the `milvus` extra) stops the start here rather than the first request."""
    from service.gallery.milvus_store import MilvusStore, require_pymilvus

    require_pymilvus()
    token = settings.milvus_token.get_secret_value() if settings.milvus_token is not None else None
    return MilvusStore(
        settings.milvus_uri,
        token=token,
        prefix=settings.milvus_collection_prefix,
        index=settings.milvus_index,
        hnsw_m=settings.milvus_hnsw_m,
        hnsw_ef_construction=settings.milvus_hnsw_ef_construction,
        search_ef=settings.milvus_search_ef,
        ivf_nlist=settings.milvus_ivf_nlist,
        ivf_nprobe=settings.milvus_ivf_nprobe,
        consistency=settings.milvus_consistency,
        timeout_s=settings.milvus_timeout_s,
        compact_interval_s=settings.milvus_compact_interval_s,
        redis_url=settings.redis_url,
        redis_namespace=settings.redis_namespace,
        thumbnail_ttl_s=settings.milvus_thumbnail_ttl_seconds,
    )


def build_audit(settings: Settings) -> AuditLog:
    """Where the gallery lives, the trail lives: Redis when configured, else process memory."""
    retention_seconds = settings.audit_retention_days * 86400
    namespace, max_entries = settings.redis_namespace, settings.audit_max_entries
    return open_audit(settings.redis_url, namespace, max_entries, retention_seconds)


def build_keys(settings: Settings) -> KeyRing:
    admin_key = settings.api_key.get_secret_value() if settings.api_key else None
    entries = [k.get_secret_value() for k in settings.api_keys]
    return KeyRing.configured(entries, admin_key, settings.api_key_file)


def media_limits(settings: Settings) -> MediaLimits:
    return MediaLimits(
        max_bytes=settings.max_upload_bytes,
        max_frames=settings.max_frames,
        max_frame_pixels=settings.max_frame_pixels,
        max_archive_members=settings.max_archive_members,
    )


def tracks_config(settings: Settings, media: MediaLimits) -> TracksConfig:
    """The REID_TRACKS_* settings as POST /tracks' limits and crop rules."""
    tracker = TrackFileLimits(
        max_bytes=settings.tracks_max_file_bytes,
        max_boxes=settings.tracks_max_boxes,
        max_tracks=settings.tracks_max_tracks,
        max_boxes_per_frame=settings.tracks_max_boxes_per_frame,
    )
    rules = CropRules(
        min_confidence=settings.tracks_min_confidence,
        min_height=settings.tracks_min_height,
        min_width=settings.tracks_min_width,
        min_aspect=settings.tracks_min_aspect,
        max_aspect=settings.tracks_max_aspect,
        min_visible=settings.tracks_min_visible,
        min_boxes=settings.tracks_min_boxes,
        frames_per_track=settings.tracks_frames_per_track,
        max_crops=settings.tracks_max_crops,
    )
    footage = FootageLimits(media, tracker, settings.tracks_max_video_frames)
    return TracksConfig(footage, rules, settings.tracks_in_flight)


def memory_budget(settings: Settings) -> MemoryBudget:
    """The requests' memory budget, once the model is loaded (what the process then holds is not the
    requests' to use)."""
    limit = settings.memory_limit_bytes or cgroup_memory_limit() or physical_memory()
    resident = resident_bytes()
    size = settings.memory_budget_bytes or budget_from_limit(limit, settings.memory_budget_fraction, resident)
    log.info(
        "memory budget for requests: %d MiB (limit %d MiB, %d MiB resident at start)",
        size // MIB,
        limit // MIB,
        resident // MIB,
    )
    return MemoryBudget(size, settings.memory_budget_wait_s, on_idle=trim_heap)


def model_session(settings: Settings, hardware: Hardware | None = None) -> ModelSession:
    """The model file on the engine and precision the settings ask for (auto: the host's fastest that
    holds to the file's references). Blocking: loads and checks the file."""
    return ModelSession(
        settings.model_path,
        providers=settings.providers,
        intra_op_threads=settings.intra_op_threads,
        engine=settings.engine,
        precision=settings.precision,
        openvino_device=settings.openvino_device,
        hardware=hardware,
    )


def micro_batcher(
    run_batch: RunBatch, settings: Settings, on_batch: OnBatch | None = None, engine_frames_per_call: int = 0
) -> MicroBatcher:
    """`engine_frames_per_call`: what the engine runs best (0: no preference); REID_MAX_BATCH_FRAMES wins."""
    return MicroBatcher(
        run_batch,
        batching=settings.batching,
        max_batch=settings.max_batch,
        batch_wait_ms=settings.batch_wait_ms,
        max_queue=settings.max_queue,
        on_batch=on_batch,
        fill_fraction=settings.batch_fill_fraction,
        max_batch_frames=settings.max_batch_frames or engine_frames_per_call,
    )


def load_detector(settings: Settings) -> SharedDetector | None:
    """The person detector of footage sent without a tracker file, held to its references; None when
    REID_DETECTOR_PATH is empty (footage then needs a tracker file). EngineUnavailable, naming the
    setting, when it cannot run here: the start stops rather than serve without what was asked."""
    if settings.detector_path is None:
        log.info("no person detector (REID_DETECTOR_PATH is empty): POST /tracks needs a tracker file")
        return None
    try:
        import supervision  # noqa: F401
        import trackers  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(
            f"REID_DETECTOR_PATH={settings.detector_path}: tracking footage needs roboflow's trackers "
            f"and supervision ({exc}): install them with `{TRACKERS_INSTALL}`, or set REID_DETECTOR_PATH= "
            "(empty) to serve without footage detection"
        ) from None
    detector = PersonDetector(
        settings.detector_path,
        precision=settings.detector_precision,
        device=settings.detector_device,
        threads=settings.detector_threads,
    )
    info = detector.info
    log.info(
        "person detector %s on %s %s at %s (%s); %s",
        info.name,
        info.engine,
        info.device,
        info.precision,
        info.reason,
        info.parity,
    )
    return SharedDetector(detector)


async def load_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """Load and warm the model and the person detector off the event loop, then size the budget and
    start the batcher (call from within the running loop: the app's lifespan)."""
    session, detector = await asyncio.gather(
        asyncio.to_thread(model_session, settings), asyncio.to_thread(load_detector, settings)
    )
    await asyncio.to_thread(session.warmup)
    budget = memory_budget(settings)
    metrics.track_budget(budget)
    info = session.engine
    batcher = micro_batcher(session.run, settings, metrics.observe_batch, info.frames_per_call)
    batcher.start()
    metrics.track_queue(lambda: batcher.queue_depth)
    metrics.describe_engine(info.name, info.version, info.device, info.precision, session.parity.worst)
    return Runtime(session, batcher, Embedder(session, batcher), budget, detector)
