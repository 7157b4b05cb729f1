"""All settings of the service, read once from `REID_*` environment variables (or a .env file).

`Settings()` is built in `service.main`; the composition root (`service.build`) makes every component
from it, once. No other module reads the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reid_contract import PrecisionSetting

# A list setting from the environment: a JSON list, or names separated by commas.
NameList = Annotated[list[str], NoDecode]

# The model shipped in the repository (models/README.md is its card).
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "osnet-ain-multisite.onnx"
# The person detector shipped in the repository (its card: models/detector/*/CARD.md).
DEFAULT_DETECTOR = (
    Path(__file__).resolve().parents[2] / "models" / "detector" / "pedestrian-detection-adas-0002"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REID_", env_file=".env", extra="ignore")

    # server
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # glibc's malloc arenas for the process (service/core/memory.py: why); 0 leaves the C library's
    # default of eight per core, where a busy process keeps freed upload memory in each of them
    malloc_arena_max: int = Field(2, ge=0)
    cors_origins: NameList = Field(default_factory=list)  # closed unless listed

    # model
    model_path: Path = DEFAULT_MODEL
    # the engine that runs the file (docs/deployment.md, "Engines"): auto = ONNX Runtime with CUDA on
    # a GPU, else OpenVINO on the CPU; onnxruntime or openvino = that one or no start
    engine: Literal["auto", "onnxruntime", "openvino"] = "auto"
    # auto = the fastest precision that passes the file's parity probe (bf16 on CPUs with AVX512_BF16
    # or AMX, fp32 elsewhere); any other = that one or no start
    precision: PrecisionSetting = "auto"
    openvino_device: str = "CPU"  # OpenVINO's device name: CPU, or GPU where its plugin sees one
    # ONNX Runtime providers in order of preference (implies engine onnxruntime); empty: the engine's
    # own choice
    providers: NameList = Field(default_factory=list)
    intra_op_threads: int = Field(0, ge=0)  # the engine's threads; 0: its default (all cores)

    # gallery: unset means the in-process store (lost at exit); set means Redis
    redis_url: str | None = None
    redis_namespace: str = Field("reid", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # key prefix in Redis
    # gallery search: `exact` scans every entry; `ivf` adds an approximate faiss index (the `index`
    # extra) once a model's gallery holds gallery_index_min_rows entries, built in the background
    # (recall and speed in docs/benchmarks.md, section 3)
    gallery_index: Literal["exact", "ivf"] = "exact"
    gallery_index_min_rows: int = Field(500_000, ge=1)
    gallery_index_nprobe: int = Field(128, ge=1)  # inverted lists visited per query: recall vs speed

    # gallery in Milvus (the `milvus` extra; docs/gallery.md, "Milvus"): set, it is the store, and
    # search, filters, counting and paging run in Milvus (replicas keep no copy); redis_url, if also
    # set, then holds only the locks of enrolments and the thumbnails. A server or cluster URI
    # (http://host:19530) or a local file (Milvus Lite: tests and trials, one process)
    milvus_uri: str | None = None
    milvus_token: SecretStr | None = None  # user:password or an API key, where the server wants one
    milvus_collection_prefix: str = Field("reid", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    # the vector index of each model's collection: HNSW (approximate, default), IVF_FLAT, or FLAT (exact)
    milvus_index: Literal["HNSW", "IVF_FLAT", "FLAT"] = "HNSW"
    milvus_hnsw_m: int = Field(16, ge=2, le=2048)
    milvus_hnsw_ef_construction: int = Field(200, ge=1)
    milvus_search_ef: int = Field(64, ge=1)  # HNSW candidates per search (at least top_k): recall vs speed
    milvus_ivf_nlist: int = Field(1024, ge=1)
    milvus_ivf_nprobe: int = Field(32, ge=1)
    # Shared: every write's Milvus timestamp is raised into one Redis key per model and every read
    # waits for that one (Customized level): an acknowledged enrolment is found, an acknowledged
    # erasure never returned, by the next read of any replica, and a read waits only right after a
    # write (Session without Redis). Strong guarantees the same and always waits for the server's
    # time tick (200 ms by default on Milvus 2.3); Bounded/Session/Eventually may be a moment behind
    milvus_consistency: Literal["Shared", "Strong", "Bounded", "Session", "Eventually"] = "Shared"
    milvus_timeout_s: float = Field(10.0, gt=0)  # per Milvus call; past it the request answers 503
    # deleted rows leave the segments at a compaction, started at most this often after deletes
    milvus_compact_interval_s: float = Field(600.0, gt=0)
    # thumbnails of a Milvus gallery live in Redis (not in Milvus, whose loaded collections sit in
    # memory), each kept for its entry's retention but at most this long (unset: the entry's)
    milvus_thumbnail_ttl_seconds: int | None = Field(86_400, gt=0)

    # security, closed by default (docs/security.md): with no key at all only loopback clients are
    # served (others get 401) unless allow_open; with keys, reads need one too unless protect_reads
    # is false
    api_key: SecretStr | None = None  # one admin key, named "default"
    # named keys with roles, `name:role:key` entries (JSON list or comma separated); roles: read
    # (embed, match, list), write (+ enroll, delete), admin (+ clear, audit trail)
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # with neither of the two: the admin key kept in this file, generated and logged once at the
    # first start when the file is missing (the images set /var/lib/reid/api-key, a volume in compose)
    api_key_file: Path | None = None
    protect_reads: bool = True  # false: reads (embed, match, list, entries, thumbnails) need no key
    allow_open: bool = False  # true: with no key, every client may do everything (not just loopback)

    # privacy: retention of gallery entries (unset: kept until deleted) and of the audit trail
    gallery_ttl_seconds: int | None = Field(None, gt=0)
    store_thumbnails: bool = True
    audit_max_entries: int = Field(100_000, gt=0)
    audit_retention_days: float = Field(90.0, gt=0)

    # limits, enforced while reading the upload, before decoding everything
    max_upload_bytes: int = Field(64 * 1024 * 1024, gt=0)
    max_frames: int = Field(512, gt=0)  # decoded frames per request
    max_frame_pixels: int = Field(4096 * 4096, gt=0)  # width * height of one decoded frame
    max_archive_members: int = Field(2048, gt=0)
    max_json_bytes: int = Field(1024 * 1024, gt=0)
    default_top_k: int = Field(10, gt=0)
    max_top_k: int = Field(1000, gt=0)
    # match-or-enroll without a threshold: the model's own, calibrated at this false match rate
    match_false_match_rate: float = Field(1e-3, gt=0, lt=1)

    # POST /tracks, a clip and its tracker's output (docs/tracks.md): limits, checked while reading...
    tracks_max_video_frames: int = Field(54_000, gt=0)  # decoded per request (30 min at 30 fps): CPU time
    tracks_max_file_bytes: int = Field(16 * 1024 * 1024, gt=0)  # the tracker file
    tracks_max_boxes: int = Field(200_000, gt=0)  # about 50 MB parsed, 100 MB at the peak of parsing
    tracks_max_tracks: int = Field(1_000, gt=0)
    tracks_max_boxes_per_frame: int = Field(200, gt=0)
    tracks_max_crops: int = Field(4096, gt=0)  # crops held at once at the model's input: the memory bound
    tracks_in_flight: int = Field(8, ge=1)  # tracks embedding at once
    # ...and what makes a box a usable crop (the reasons for each default: service/tracks/plan.py)
    tracks_min_confidence: float = 0.5
    tracks_min_height: int = Field(40, ge=1)
    tracks_min_width: int = Field(12, ge=1)
    tracks_min_aspect: float = Field(0.2, gt=0)
    tracks_max_aspect: float = Field(1.5, gt=0)
    tracks_min_visible: float = Field(0.6, ge=0, le=1)
    tracks_min_boxes: int = Field(3, ge=1)
    tracks_frames_per_track: int = Field(32, ge=1)

    # footage without a tracker file (POST /tracks with no `tracks` file; docs/tracks.md): the person
    # detector, loaded at start (a detector that cannot run stops the start, naming its setting);
    # empty turns footage without a tracker file off (such requests get 422)
    detector_path: Path | None = DEFAULT_DETECTOR
    detector_precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 where the CPU computes it
    detector_device: str = "CPU"  # OpenVINO's device name
    detector_threads: int = Field(0, ge=0)  # the detector's threads; 0: OpenVINO's default
    # what a request leaves unset: detect on every n-th frame, at this confidence, boxes at least this big
    detect_stride: int = Field(1, ge=1)
    detect_confidence: float = Field(0.3, ge=0, le=1)
    detect_min_width: int = Field(0, ge=0)
    detect_min_height: int = Field(0, ge=0)

    # rate limits: a token bucket per client address, and one per API key presented (429 beyond);
    # /healthz, /readyz and /metrics are exempt. 0 requests a minute turns them off.
    rate_limit_per_minute: int = Field(600, ge=0)
    rate_limit_burst: int = Field(240, ge=1)  # requests allowed at once, e.g. a tracker's backlog

    # one memory budget for what all requests hold at once (decoded frames, crops), service/core/budget.py:
    # 0 derives it: memory_budget_fraction of the container's memory limit (or of the machine's
    # memory), less what the process holds once the model is loaded
    memory_budget_bytes: int = Field(0, ge=0)
    # the process's memory limit where no container limit says it (0: the cgroup's, else the machine's)
    memory_limit_bytes: int = Field(0, ge=0)
    memory_budget_fraction: float = Field(0.6, gt=0, le=1)
    # a request whose reservation does not fit waits this long for others, then gets 503 + Retry-After
    memory_budget_wait_s: float = Field(10.0, ge=0)

    # micro-batching of model calls across concurrent requests
    batching: bool = True
    max_batch: int = Field(16, ge=1)  # tracklet chunks per model call
    # frames per model call (chunks x their length); 0: the engine's own choice (OpenVINO on a CPU 16,
    # ONNX Runtime on a CPU 32, none on a GPU): on a CPU small calls are as fast, and hold less memory
    max_batch_frames: int = Field(0, ge=0)
    batch_wait_ms: float = Field(2.0, ge=0)
    max_queue: int = Field(256, ge=1)  # chunks waiting; beyond it requests get 429
    # wait up to this fraction of the last model call for the clients it just answered to come back
    # (0: off; about 0.3 where a larger batch is cheaper per chunk, as on a GPU; see batcher.py)
    batch_fill_fraction: float = Field(0.0, ge=0, le=1)

    @field_validator("providers", "cors_origins", "api_keys", mode="before")
    @classmethod
    def _name_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator(
        "api_key", "redis_url", "api_key_file", "milvus_uri", "milvus_token", "detector_path", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`REID_API_KEY=` (as compose passes an unset variable) means no key, not an empty key."""
        return None if isinstance(value, str) and not value.strip() else value
