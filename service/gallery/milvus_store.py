"""The gallery kept in Milvus: search, filters, counting and paging run in the engine, so a replica
keeps no copy of the gallery and its memory and start time do not grow with it (docs/gallery.md,
"Milvus").

One collection per model id (vectors of two models never meet; the dimension is that of the first
vector enrolled). `pymilvus.MilvusClient` is synchronous: every call runs in a worker thread.

- Retention is the service's: `expires` is filtered on every read (Milvus's collection TTL is not
  per entry and was measured to remove nothing) and `expire()` deletes what ended.
- Consistency: "Shared" by default. Every write (upsert, delete) ends with its Milvus timestamp,
  which the store publishes in Redis (one key per collection, only ever raised) before the write is
  acknowledged; every read runs at Milvus's "Customized" level with `guarantee_timestamp` = that
  key (one Redis GET): an acknowledged enrolment is seen by the next read of any replica, an
  acknowledged erasure never again, and a read waits for the server only when it closely follows a
  write (a Strong read always waits for the server's next time tick: ~200 ms on 2.3). No Redis
  (one replica): the process's own latest write (Session before it wrote). A delete's timestamp
  (Milvus 2.3 answers 0) is that of a one-row upsert into a clock collection right after it.
  With Redis but the key unreadable or not there yet: Strong.
  Strong, Bounded, Session and Eventually can be chosen instead. The read of an "add" merge and
  of a delete's check runs Shared (under the entry's lock, so the last write of that id was
  published first) or Strong at every other level; `expire()`'s read is always Strong.
- `add` (both modes) and `delete` of one id hold a lock across the read and the write: in Redis
  when the store is given a Redis URL (replicas), else an in-process one (a single process: Lite).
- Thumbnails are not in Milvus (a loaded collection lives in the query nodes' memory): in Redis,
  kept for the entry's retention capped at `thumbnail_ttl_s`, or in process memory without Redis.
- Erasure: `delete` marks the row (no read returns it once acknowledged, at Shared or Strong); `compact()`
  rewrites the segments without it, which `delete`/`expire` start at most every
  `compact_interval_s` and an erasure that must be complete now awaits (`erase`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

import numpy as np

from service.core.errors import Conflict, StoreUnavailable
from service.gallery.base import EnrollMode, Entry, Match, SearchFilters
from service.gallery.enrolment import check_mode, enrolled, unit_vector

log = logging.getLogger("service.gallery.milvus")

T = TypeVar("T")
IndexType = Literal["HNSW", "FLAT", "IVF_FLAT"]
Consistency = Literal["Shared", "Strong", "Bounded", "Session", "Eventually"]
CONSISTENCY_LEVELS: tuple[str, ...] = ("Shared", "Strong", "Bounded", "Session", "Eventually")

NEVER = 1.0e300  # `expires` of an entry kept until deleted: "not expired" is one `expires > now`
NO_TIME = -1.0e300  # `timestamp` of an entry without one: never passes a time filter
NO_TEXT = ""  # `camera`/`label` of an entry without one (the API admits no empty label)
MAX_ID = 512  # VARCHAR lengths; the API's ids and labels are at most 128 characters
MAX_TEXT = 512
PAGE = 16_384  # Milvus's largest query window: rows per query and per iterator batch
BATCH = 1_000  # rows per insert/upsert/delete call
_LOCK_STRIPES = 256
_NAME_OK = re.compile(r"[^A-Za-z0-9_]")
# the scalar fields read back; the vector is added where the entry is returned whole
SCALARS = ("id", "camera", "label", "timestamp", "expires", "created", "updated", "count", "tags")
STRONG: dict[str, Any] = {"consistency_level": "Strong"}
# the consistency of the reads of the current request (query/search keyword arguments), chosen on
# the event loop (a Redis GET) and carried into the worker thread (asyncio.to_thread copies it)
_PROCESS_WRITE_TS: dict[str, dict[str, int]] = {}
_PROCESS_WRITE_TS_LOCK = threading.Lock()
_READ: ContextVar[dict[str, Any] | None] = ContextVar("milvus_read", default=None)
# raise a timestamp key only (zero-padded to 20 digits, so that comparing strings compares numbers:
# a hybrid timestamp is past 2**53, which Lua's doubles would round)
_RAISE_TS = """
local old = redis.call('GET', KEYS[1])
if (not old) or ARGV[1] > old then redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1] end
return old
"""


def collection_name(prefix: str, model_id: str) -> str:
    """A valid Milvus collection name for a model id (letters, digits, underscores; at most 255):
    the prefix, a readable slug of the id, and a hash of it so that two ids that slug alike
    ("a-b", "a_b") never share a collection."""
    slug = _NAME_OK.sub("_", model_id)[:48]
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:12]
    return f"{_NAME_OK.sub('_', prefix)}_{slug}_{digest}"


def quote(text: str) -> str:
    """A string literal of Milvus's expression language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def not_expired(now: float) -> str:
    return f"expires > {now!r}"


def filter_expression(filters: SearchFilters | None, now: float) -> str:
    """The engine's expression for the re-id filters, "not expired" included; min_similarity is
    applied to the ranked hits (a similarity bound keeps a prefix of them)."""
    parts = [not_expired(now)]
    if filters is not None:
        if filters.exclude_camera is not None:
            parts.append(f"camera != {quote(filters.exclude_camera)}")
        if filters.label is not None:
            parts.append(f"label == {quote(filters.label)}")
        if filters.time_from is not None or filters.time_to is not None:
            parts.append(f"timestamp > {NO_TIME!r}")
        if filters.time_from is not None:
            parts.append(f"timestamp >= {float(filters.time_from)!r}")
        if filters.time_to is not None:
            parts.append(f"timestamp <= {float(filters.time_to)!r}")
    return " and ".join(parts)


def _is_unreachable(exc: BaseException) -> bool:
    """Whether an exception of pymilvus or gRPC says that the server could not be reached (as
    opposed to a request it refused)."""
    try:
        import grpc  # pymilvus depends on it
    except ImportError:  # pragma: no cover
        grpc = None
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    if grpc is not None and isinstance(exc, grpc.RpcError | grpc.FutureTimeoutError):
        return True
    from pymilvus.exceptions import ConnectError, MilvusException, MilvusUnavailableException

    if isinstance(exc, ConnectError | MilvusUnavailableException):
        return True
    if isinstance(exc, MilvusException):
        text = str(exc).lower()
        return not exc.is_input_error and any(
            word in text
            for word in ("unavailable", "connect", "deadline", "timeout", "timed out", "not ready", "closed")
        )
    return False


def _is_missing_collection(exc: BaseException) -> bool:
    from pymilvus.exceptions import CollectionNotExistException, MilvusException

    if isinstance(exc, CollectionNotExistException):
        return True
    if isinstance(exc, MilvusException):
        text = str(exc).lower()
        return exc.code == 100 or "collection not found" in text or "can't find collection" in text
    return False


def _is_not_loaded(exc: BaseException) -> bool:
    return "not loaded" in str(exc).lower() or "collection not loaded" in str(exc).lower()


def require_pymilvus() -> Any:
    """The pymilvus module, or an ImportError that says how to install it (called where the store
    is chosen, so that a missing extra stops the start rather than the first request)."""
    try:
        import pymilvus
    except ImportError as exc:
        raise ImportError("the Milvus gallery needs pymilvus: pip install '.[milvus]'") from exc
    return pymilvus


class _NoCollection(Exception):
    """The model has no collection (never enrolled, or cleared)."""


@dataclasses.dataclass
class _Collection:
    name: str
    dim: int


class _StripedLocks:
    """Per-id mutual exclusion within one process: a fixed set of asyncio locks, an id hashed to
    one of them (bounded memory whatever the number of ids)."""

    def __init__(self, stripes: int = _LOCK_STRIPES) -> None:
        self._locks = [asyncio.Lock() for _ in range(stripes)]

    def __call__(self, model_id: str, entry_id: str) -> AbstractAsyncContextManager[Any]:
        digest = hashlib.blake2b(f"{model_id}\0{entry_id}".encode(), digest_size=4).digest()
        return self._locks[int.from_bytes(digest, "big") % len(self._locks)]


_PROCESS_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _StripedLocks] = (
    weakref.WeakKeyDictionary()
)


def _process_locks() -> _StripedLocks:
    """The locks of this process (of its event loop): every MilvusStore of the process shares them,
    so that two stores on one gallery in one process exclude each other too."""
    loop = asyncio.get_running_loop()
    locks = _PROCESS_LOCKS.get(loop)
    if locks is None:
        locks = _PROCESS_LOCKS[loop] = _StripedLocks()
    return locks


class MilvusStore:
    """GalleryStore on Milvus (a server or cluster by URI, or Milvus Lite by a file path);
    connects lazily, so that an unreachable Milvus at start makes `ping()` false, not a crash."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        prefix: str = "reid",
        index: IndexType = "HNSW",
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        search_ef: int = 64,
        ivf_nlist: int = 1024,
        ivf_nprobe: int = 32,
        consistency: Consistency = "Shared",
        timeout_s: float = 10.0,
        compact_interval_s: float | None = 600.0,
        redis_url: str | None = None,
        redis_namespace: str = "reid",
        thumbnail_ttl_s: float | None = 86_400.0,
        thumbnail_memory_bytes: int = 64 * 1024 * 1024,
        lock_timeout_s: float = 10.0,
        scalar_indexes: bool | None = None,
    ) -> None:
        if index not in ("HNSW", "FLAT", "IVF_FLAT"):
            raise ValueError(f"unknown Milvus index type {index!r}")
        if consistency not in CONSISTENCY_LEVELS:
            raise ValueError(f"unknown Milvus consistency {consistency!r}")
        self.uri = uri
        self._token = token
        self.prefix = prefix
        self.index = index
        self._hnsw = {"M": hnsw_m, "efConstruction": hnsw_ef_construction}
        self._search_ef = search_ef
        self._ivf_nlist, self._ivf_nprobe = ivf_nlist, ivf_nprobe
        self.consistency = consistency
        self._timeout = timeout_s
        self._compact_interval = compact_interval_s
        self._thumbnail_ttl = thumbnail_ttl_s
        self._lock_timeout = lock_timeout_s
        # None: on a server, not on Milvus Lite (a local file: tests, where each index costs a second
        # a collection and speeds nothing up)
        lite = "://" not in uri
        self._scalar_indexes_on = (not lite) if scalar_indexes is None else scalar_indexes
        self._client: Any = None  # pymilvus.MilvusClient, made on first use
        self._client_lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._collections: dict[str, _Collection] = {}
        self._expired: dict[str, list[str]] = {}  # found by an "add", not yet reported by expire()
        self._last_compaction: dict[str, float] = {}
        # collection -> the latest write timestamp of this process on this Milvus: shared by the
        # stores of one process, as its per-id locks are (without Redis, they are its replicas)
        self._write_ts = _PROCESS_WRITE_TS.setdefault(uri, {})
        self._write_ts_lock = _PROCESS_WRITE_TS_LOCK
        self._clock_ready = False
        self._redis: Any = None
        self.redis_namespace = redis_namespace
        if redis_url is not None:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=2.0)
            # EVALSHA of one registered script, re-sent by redis-py when the server lost its script cache
            self._raise_ts = self._redis.register_script(_RAISE_TS)
        # thumbnails without Redis: process memory, least recently written dropped past the budget
        self._thumbnails: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()
        self._thumbnail_bytes = 0
        self._thumbnail_budget = thumbnail_memory_bytes

    # consistency: write timestamps shared through Redis, read at "Customized"

    def _ts_key(self, model_id: str) -> str:
        return f"{self.redis_namespace}:milvus-write-ts:{collection_name(self.prefix, model_id)}"

    def _note_write(self, client: Any, name: str, clock: bool = False) -> None:
        """Remember the timestamp of the write just done on `name` (worker thread). MilvusClient's
        insert/upsert/delete return no timestamp, but pymilvus keeps each collection's latest
        write timestamp (its Session level reads it); 0 where it has none (Milvus Lite). A delete
        (`clock`) has none on Milvus 2.3 (its answer says 0): the timestamp of a write made after
        it stands for it, one row upserted into a small clock collection (the timestamps of all
        collections come from one oracle, and a read that waits for a later timestamp has seen
        the delete)."""
        if clock and "://" in self.uri:
            self._tick_clock(client, into=name)
            return
        self._record_ts(client, name, name)

    def _tick_clock(self, client: Any, into: str) -> None:
        name = f"{_NAME_OK.sub('_', self.prefix)}_write_clock"
        if not self._clock_ready:
            if not client.has_collection(name, timeout=self._timeout):
                from pymilvus import DataType, MilvusClient

                # no index and never loaded: it is only written to, and a load would cost seconds
                schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
                try:
                    client.create_collection(name, schema=schema, timeout=self._timeout)
                except Exception as exc:  # made meanwhile by another replica
                    if _is_unreachable(exc) or not client.has_collection(name, timeout=self._timeout):
                        raise
            self._clock_ready = True
        client.upsert(name, [{"id": 0, "vector": [1.0, 0.0]}], timeout=self._timeout)
        self._record_ts(client, name, into)

    def _record_ts(self, client: Any, name: str, into: str) -> None:
        try:
            from pymilvus.client import ts_utils

            handler = client._get_connection()
            context = client._generate_call_context()
            db_name = context.get_db_name() if context is not None else ""
            ts = int(ts_utils.get_collection_ts(name, handler.server_address, db_name) or 0)
        except Exception as exc:  # pragma: no cover - another pymilvus
            log.debug("milvus: no write timestamp for %s: %s", name, exc)
            return
        with self._write_ts_lock:
            if ts > self._write_ts.get(into, 0):
                self._write_ts[into] = ts

    async def _publish(self, model_id: str) -> None:
        """Raise the model's shared write timestamp in Redis to this store's latest write (before
        the write is acknowledged: a Redis failure here is a 503 and the write is retried)."""
        if self.consistency != "Shared" or self._redis is None:
            return
        ts = self._write_ts.get(collection_name(self.prefix, model_id), 0)
        if ts <= 0:
            return
        async with self._redis_errors():
            await self._raise_ts(keys=[self._ts_key(model_id)], args=[f"{ts:020d}"])

    async def _read_level(self, model_id: str) -> dict[str, Any]:
        """The consistency of a read of `model_id`'s gallery now (keyword arguments of a query or
        search)."""
        if self.consistency != "Shared":
            return {"consistency_level": self.consistency}
        own = self._write_ts.get(collection_name(self.prefix, model_id), 0)
        if self._redis is None:  # one replica: read-your-writes of this process
            if own <= 0:
                return {"consistency_level": "Session"}
            return {"consistency_level": "Customized", "guarantee_timestamp": own}
        try:
            async with self._redis_errors():
                shared = await self._redis.get(self._ts_key(model_id))
        except StoreUnavailable as exc:
            log.warning("milvus: shared write timestamp unreadable, reading at Strong: %s", exc)
            return dict(STRONG)
        if shared is None:  # nothing written since Redis started: wait for everything
            return dict(STRONG)
        ts = max(int(shared), own)
        return {"consistency_level": "Customized", "guarantee_timestamp": ts}

    def _read(self) -> dict[str, Any]:
        """The current request's read consistency (worker thread); Strong where none was chosen."""
        chosen = _READ.get()
        if chosen is not None:
            return chosen
        return dict(STRONG) if self.consistency == "Shared" else {"consistency_level": self.consistency}

    def _read_current(self) -> dict[str, Any]:
        """The read of what is stored now under the entry's lock (an "add" merge, a delete's
        check): Shared's level (the lock's last holder published its write first), else Strong."""
        return self._read() if self.consistency == "Shared" else dict(STRONG)

    async def _read_call(self, model_id: str, fn: Callable[..., T], *args: Any) -> T:
        token = _READ.set(await self._read_level(model_id))
        try:
            return await self._call(fn, *args)
        finally:
            _READ.reset(token)

    # the client, in worker threads

    def _connect(self) -> Any:
        with self._client_lock:
            if self._client is None:
                from pymilvus import MilvusClient

                kwargs: dict[str, Any] = {"uri": self.uri, "timeout": self._timeout}
                if self._token:
                    kwargs["token"] = self._token
                self._client = MilvusClient(**kwargs)
            return self._client

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(client, *args)` in a worker thread; an unreachable Milvus is StoreUnavailable."""

        def work() -> T:
            client = self._connect()
            try:
                return fn(client, *args)
            except _NoCollection:
                # dropped meanwhile (another replica's clear; `_retrying` forgot it): once more,
                # where reads find no collection and an enrolment makes a new one
                return fn(client, *args)

        try:
            return await asyncio.to_thread(work)
        except (_NoCollection, Conflict, StoreUnavailable):
            raise
        except Exception as exc:
            if _is_unreachable(exc):
                raise StoreUnavailable(f"gallery store (Milvus at {self.uri}) unreachable: {exc}") from exc
            raise

    def _collection(self, client: Any, model_id: str) -> _Collection:
        """The model's collection (cached); _NoCollection when it has none."""
        known = self._collections.get(model_id)
        if known is not None:
            return known
        name = collection_name(self.prefix, model_id)
        if not client.has_collection(name, timeout=self._timeout):
            raise _NoCollection(model_id)
        described = client.describe_collection(name, timeout=self._timeout)
        dim = next(int(f["params"]["dim"]) for f in described["fields"] if f["name"] == "vector")
        known = self._collections[model_id] = _Collection(name, dim)
        return known

    def _create(self, client: Any, model_id: str, dim: int) -> _Collection:
        """Create the model's collection for vectors of `dim` (or find the one another thread or
        replica made meanwhile): one creation at a time in the process, each index made before the
        load."""
        with self._create_lock:
            try:
                return self._collection(client, model_id)
            except _NoCollection:
                return self._create_new(client, model_id, dim)

    def _create_new(self, client: Any, model_id: str, dim: int) -> _Collection:
        from pymilvus import DataType, MilvusClient

        name = collection_name(self.prefix, model_id)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=model_id)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("camera", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("label", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("timestamp", DataType.DOUBLE)
        schema.add_field("expires", DataType.DOUBLE)
        schema.add_field("created", DataType.DOUBLE)
        schema.add_field("updated", DataType.DOUBLE)
        schema.add_field("count", DataType.INT64)
        schema.add_field("tags", DataType.JSON)
        params = client.prepare_index_params()
        if self.index == "HNSW":
            params.add_index("vector", index_type="HNSW", metric_type="COSINE", params=dict(self._hnsw))
        elif self.index == "IVF_FLAT":
            params.add_index(
                "vector", index_type="IVF_FLAT", metric_type="COSINE", params={"nlist": self._ivf_nlist}
            )
        else:
            params.add_index("vector", index_type="FLAT", metric_type="COSINE", params={})
        # every index before the load: on Milvus 2.3 an index added to a loaded collection unloads
        # it until a reload (measured: the next reads answered "collection not loaded")
        try:
            client.create_collection(name, schema=schema, consistency_level="Strong", timeout=self._timeout)
        except Exception as exc:
            if _is_unreachable(exc) or not client.has_collection(name, timeout=self._timeout):
                raise
        try:
            client.create_index(name, params, timeout=self._timeout)
        except Exception as exc:  # made meanwhile by another replica
            if _is_unreachable(exc):
                raise
            log.debug("milvus: vector index of %s: %s", name, exc)
        if self._scalar_indexes_on:
            self._scalar_indexes(client, name)
        try:
            client.load_collection(name, timeout=self._timeout)
        except Exception as exc:
            # another replica loaded it meanwhile, with the indexes of that moment
            if _is_unreachable(exc) or "NotLoad" in str(client.get_load_state(name, timeout=self._timeout)):
                raise
            log.debug("milvus: %s loaded by another replica: %s", name, exc)
        self._collections.pop(model_id, None)
        return self._collection(client, model_id)

    def _scalar_indexes(self, client: Any, name: str) -> None:
        """Index the fields whose filters are selective: `label ==` and the time window (`camera !=`
        and `expires >` pass nearly every row, where an index does not help). INVERTED where the
        server has it (Milvus 2.4+, Lite), else Milvus 2.3's Trie and STL_SORT; a server with
        neither only scans (slower filters, same answers)."""
        try:
            version = str(client.get_server_version(timeout=self._timeout))
        except Exception as exc:
            if _is_unreachable(exc):
                raise
            version = ""
        old = re.match(r"v?2\.[0-3]\.", version) is not None  # before INVERTED (2.4)
        for field, fallback in (("label", "Trie"), ("timestamp", "STL_SORT")):
            for kind in (fallback, "INVERTED") if old else ("INVERTED", fallback):
                params = client.prepare_index_params()
                params.add_index(field, index_type=kind, index_name=f"{field}_idx")
                try:
                    client.create_index(name, params, timeout=self._timeout)
                    break
                except Exception as exc:
                    if _is_unreachable(exc):
                        raise
                    log.debug("milvus: no %s index on %s.%s: %s", kind, name, field, exc)

    def _retrying(self, client: Any, model_id: str, fn: Callable[[_Collection], T]) -> T:
        """`fn(collection)`, once more if the cached collection was dropped (another replica's
        clear) or is not loaded (a server restart)."""
        coll = self._collection(client, model_id)
        try:
            return fn(coll)
        except Exception as exc:
            if _is_missing_collection(exc):
                self._collections.pop(model_id, None)
                raise _NoCollection(model_id) from exc
            if not _is_not_loaded(exc):
                raise
        # not loaded: after a server restart until it has reloaded it (or never loaded): load it,
        # waiting at most the call's timeout; a longer load answers 503 with Retry-After meanwhile
        try:
            client.load_collection(coll.name, timeout=self._timeout)
        except Exception as exc:
            if _is_unreachable(exc) or "load" in str(exc).lower():
                raise StoreUnavailable(
                    f"gallery of model {model_id} is loading in Milvus: {exc}", retry_after=2
                ) from exc
            raise
        return fn(coll)

    # writes

    async def add(self, entry: Entry, mode: EnrollMode = "replace") -> Entry:
        check_mode(mode)
        async with self._lock(entry.model_id, entry.id):
            stored = await self._read_call(entry.model_id, self._add_sync, entry, mode)
            await self._publish(entry.model_id)
            return stored

    def _add_sync(self, client: Any, entry: Entry, mode: EnrollMode) -> Entry:
        now = time.time()
        vector = unit_vector(entry.vector)
        try:
            coll = self._collection(client, entry.model_id)
        except _NoCollection:
            coll = self._create(client, entry.model_id, vector.size)
        if vector.size != coll.dim:
            raise Conflict(
                f"vector of dimension {vector.size} for a gallery of dimension {coll.dim} "
                f"(model {entry.model_id})"
            )
        old = None
        if mode == "add":  # the merge reads what is stored now, whatever the read consistency
            rows = self._retrying(
                client,
                entry.model_id,
                lambda c: client.query(
                    c.name,
                    filter=f"id == {quote(entry.id)}",
                    output_fields=[*SCALARS, "vector"],
                    timeout=self._timeout,
                    **self._read_current(),
                ),
            )
            if rows:
                old = _entry_from_row(entry.model_id, rows[0])
                if old.expires_at is not None and old.expires_at <= now:
                    self._expired.setdefault(entry.model_id, []).append(entry.id)
                    old = None
        stored = enrolled(old, entry, mode, now)
        self._retrying(
            client,
            entry.model_id,
            lambda c: client.upsert(c.name, [_row(stored)], timeout=self._timeout),
        )
        self._note_write(client, coll.name)
        return stored

    async def enroll_many(self, entries: Iterable[Entry], mode: EnrollMode = "replace") -> int:
        """Enroll many entries (bulk loading, copies, benchmarks); returns how many were stored.
        "replace" upserts BATCH rows per call; "add" enrols one at a time (each merge reads)."""
        check_mode(mode)
        entries = list(entries)
        if mode == "add":
            for entry in entries:
                await self.add(entry, "add")
            return len(entries)
        await self._write_by_model(entries, self._upsert_many_sync)
        return len(entries)

    async def _write_by_model(
        self, entries: Sequence[Entry], write: Callable[[Any, str, list[Entry]], None]
    ) -> None:
        """`write(client, model_id, its entries)` for each model's share, each published once written."""
        by_model: dict[str, list[Entry]] = {}
        for entry in entries:
            by_model.setdefault(entry.model_id, []).append(entry)
        for model_id, group in by_model.items():
            await self._call(write, model_id, group)
            await self._publish(model_id)

    def _upsert_many_sync(self, client: Any, model_id: str, entries: list[Entry]) -> None:
        now = time.time()
        stored = [enrolled(None, entry, "replace", now) for entry in entries]
        for chunk in _chunks(stored, BATCH):
            self._write_rows(client, model_id, chunk)

    def _write_rows(self, client: Any, model_id: str, entries: Sequence[Entry]) -> None:
        """Upsert entries as they are (already normalised and stamped: a copy between stores)."""
        if not entries:
            return
        try:
            coll = self._collection(client, model_id)
        except _NoCollection:
            coll = self._create(client, model_id, entries[0].vector.size)
        for entry in entries:
            if entry.vector.size != coll.dim:
                raise Conflict(
                    f"vector of dimension {entry.vector.size} for a gallery of dimension {coll.dim}"
                )
        rows = [_row(entry) for entry in entries]
        self._retrying(client, model_id, lambda c: client.upsert(c.name, rows, timeout=self._timeout))
        self._note_write(client, coll.name)

    async def put_entries(self, entries: Sequence[Entry]) -> None:
        """Write entries exactly as given (created/updated/count kept): the copy command's writer."""
        await self._write_by_model(entries, self._write_rows)

    async def delete(self, model_id: str, entry_id: str) -> bool:
        async with self._lock(model_id, entry_id):
            existed = await self._read_call(model_id, self._delete_sync, model_id, entry_id)
            await self._publish(model_id)
            await self._drop_thumbnails(model_id, [entry_id])
        if existed:
            await self._maybe_compact(model_id)
        return existed

    def _delete_sync(self, client: Any, model_id: str, entry_id: str) -> bool:
        try:
            coll = self._collection(client, model_id)
        except _NoCollection:
            return False
        now = time.time()
        rows = self._retrying(
            client,
            model_id,
            lambda c: client.query(
                c.name,
                filter=f"id == {quote(entry_id)}",
                output_fields=["id", "expires"],
                timeout=self._timeout,
                **self._read_current(),
            ),
        )
        client.delete(coll.name, ids=[entry_id], timeout=self._timeout)
        self._note_write(client, coll.name, clock=True)
        # an expired row is deleted all the same, but was already gone for every reader
        return bool(rows) and float(rows[0]["expires"]) > now

    async def erase(self, model_id: str, entry_id: str) -> bool:
        """Delete, then compact and wait for it: the row is no longer in any segment Milvus serves
        (old segment files stay in object storage until Milvus's garbage collection; see
        docs/privacy.md)."""
        existed = await self.delete(model_id, entry_id)
        await self.compact(model_id)
        return existed

    async def compact(self, model_id: str, wait_s: float = 120.0) -> None:
        """Rewrite the model's segments without the rows marked deleted; waits for it."""
        await self._call(self._compact_sync, model_id, wait_s)

    def _compact_sync(self, client: Any, model_id: str, wait_s: float) -> None:
        try:
            coll = self._collection(client, model_id)
        except _NoCollection:
            return
        self._last_compaction[model_id] = time.monotonic()
        client.flush(coll.name, timeout=self._timeout)
        job = client.compact(coll.name, timeout=self._timeout)
        deadline = time.monotonic() + wait_s
        while job and time.monotonic() < deadline:
            state = str(client.get_compaction_state(job, timeout=self._timeout))
            if "Completed" in state or "Undefied" in state or "Undefined" in state:
                return
            time.sleep(0.2)

    async def _maybe_compact(self, model_id: str) -> None:
        """Start a compaction (without waiting for it) when the last one is older than the
        interval, so that deleted rows leave the segments within about that time."""
        if self._compact_interval is None:
            return
        last = self._last_compaction.get(model_id)
        if last is not None and time.monotonic() - last < self._compact_interval:
            return
        self._last_compaction[model_id] = time.monotonic()

        def start(client: Any) -> None:
            try:
                coll = self._collection(client, model_id)
            except _NoCollection:
                return
            client.compact(coll.name, timeout=self._timeout)

        try:
            await self._call(start)
        except Exception as exc:  # compaction is housekeeping: the delete itself succeeded
            log.warning("milvus: compaction of %s not started: %s", model_id, exc)

    async def expire(self, model_id: str, now: float) -> list[str]:
        gone = self._expired.pop(model_id, [])
        ended = await self._call(self._expire_sync, model_id, now)
        await self._publish(model_id)
        await self._drop_thumbnails(model_id, ended)
        if ended:
            await self._maybe_compact(model_id)
        return gone + [entry_id for entry_id in ended if entry_id not in gone]

    def _expire_sync(self, client: Any, model_id: str, now: float) -> list[str]:
        try:
            self._collection(client, model_id)
        except _NoCollection:
            return []
        ended: list[str] = []
        while True:
            rows = self._retrying(
                client,
                model_id,
                lambda c: client.query(
                    c.name,
                    filter=f"expires <= {now!r}",
                    output_fields=["id"],
                    limit=BATCH,
                    consistency_level="Strong",
                    timeout=self._timeout,
                ),
            )
            ids = [row["id"] for row in rows]
            if not ids:
                return ended
            self._retrying(
                client, model_id, lambda c, ids=ids: client.delete(c.name, ids=ids, timeout=self._timeout)
            )
            self._note_write(client, self._collection(client, model_id).name, clock=True)
            ended += ids

    async def clear(self, model_id: str) -> int:
        removed = await self._call(self._clear_sync, model_id)
        self._expired.pop(model_id, None)
        await self._drop_thumbnails(model_id, None)
        return removed

    def _clear_sync(self, client: Any, model_id: str) -> int:
        try:
            coll = self._collection(client, model_id)
        except _NoCollection:
            return 0
        try:
            count = self._count(client, coll, time.time(), dict(STRONG))
        except Exception as exc:
            if not _is_missing_collection(exc):
                raise
            count = 0
        client.drop_collection(coll.name, timeout=self._timeout)
        self._collections.pop(model_id, None)
        return count

    # thumbnails

    async def put_thumbnail(
        self, model_id: str, entry_id: str, jpeg: bytes, expires_at: float | None
    ) -> None:
        now = time.time()
        if await self.get(model_id, entry_id) is None:  # retention follows the entry's
            return
        until = math.inf if expires_at is None else expires_at
        if self._thumbnail_ttl is not None:
            until = min(until, now + self._thumbnail_ttl)
        if until <= now:
            return
        if self._redis is None:
            key = (model_id, entry_id)
            old = self._thumbnails.pop(key, None)
            if old is not None:
                self._thumbnail_bytes -= len(old[0])
            self._thumbnails[key] = (bytes(jpeg), until)
            self._thumbnail_bytes += len(jpeg)
            while self._thumbnail_bytes > self._thumbnail_budget and self._thumbnails:
                _, (dropped, _) = self._thumbnails.popitem(last=False)
                self._thumbnail_bytes -= len(dropped)
            return
        async with self._redis_errors():
            if math.isinf(until):
                await self._redis.set(self._thumb_key(model_id, entry_id), jpeg)
            else:
                await self._redis.set(self._thumb_key(model_id, entry_id), jpeg, pxat=int(until * 1000))

    async def get_thumbnail(self, model_id: str, entry_id: str) -> bytes | None:
        if await self.get(model_id, entry_id) is None:
            await self._drop_thumbnails(model_id, [entry_id])
            return None
        if self._redis is None:
            held = self._thumbnails.get((model_id, entry_id))
            return None if held is None or held[1] <= time.time() else held[0]
        async with self._redis_errors():
            return await self._redis.get(self._thumb_key(model_id, entry_id))

    def _thumb_key(self, model_id: str, entry_id: str) -> str:
        # the key RedisStore uses: a gallery copied between the two keeps its thumbnails
        return f"{self.redis_namespace}:{model_id}:thumb:{entry_id}"

    async def _drop_thumbnails(self, model_id: str, entry_ids: Sequence[str] | None) -> None:
        """Forget the thumbnails of these ids (None: of the whole model)."""
        if self._redis is None:
            keys = (
                [k for k in self._thumbnails if k[0] == model_id]
                if entry_ids is None
                else [(model_id, i) for i in entry_ids]
            )
            for key in keys:
                held = self._thumbnails.pop(key, None)
                if held is not None:
                    self._thumbnail_bytes -= len(held[0])
            return
        async with self._redis_errors():
            if entry_ids is None:
                batch: list[bytes] = []
                async for key in self._redis.scan_iter(match=self._thumb_key(model_id, "*"), count=1000):
                    batch.append(key)
                    if len(batch) >= BATCH:
                        await self._redis.delete(*batch)
                        batch = []
                if batch:
                    await self._redis.delete(*batch)
            else:
                for chunk in _chunks(list(entry_ids), BATCH):
                    if chunk:
                        await self._redis.delete(*(self._thumb_key(model_id, i) for i in chunk))

    # reads

    async def get(self, model_id: str, entry_id: str) -> Entry | None:
        rows = await self._read_call(model_id, self._get_sync, model_id, [entry_id])
        return rows[0] if rows else None

    async def get_many(self, model_id: str, entry_ids: Sequence[str]) -> list[Entry]:
        """The entries of these ids that exist and are not expired, in no particular order."""
        return await self._read_call(model_id, self._get_sync, model_id, list(entry_ids))

    def _get_sync(self, client: Any, model_id: str, entry_ids: list[str]) -> list[Entry]:
        if not entry_ids:
            return []
        try:
            self._collection(client, model_id)
        except _NoCollection:
            return []
        now = time.time()
        found: list[Entry] = []
        for chunk in _chunks(entry_ids, BATCH):
            id_list = ", ".join(quote(i) for i in chunk)
            rows = self._retrying(
                client,
                model_id,
                lambda c, id_list=id_list: client.query(
                    c.name,
                    filter=f"id in [{id_list}] and {not_expired(now)}",
                    output_fields=[*SCALARS, "vector"],
                    timeout=self._timeout,
                    **self._read(),
                ),
            )
            found += [_entry_from_row(model_id, row) for row in rows]
        return found

    async def list(self, model_id: str, offset: int, limit: int) -> tuple[list[Entry], int]:
        return await self._read_call(model_id, self._list_sync, model_id, max(0, offset), max(0, limit))

    def _list_sync(self, client: Any, model_id: str, offset: int, limit: int) -> tuple[list[Entry], int]:
        """A page in id order: the ids come from the engine in primary-key order (a query
        iterator), so a page costs reading offset + limit ids, not the gallery."""
        try:
            coll = self._collection(client, model_id)
        except _NoCollection:
            return [], 0
        now = time.time()
        total = self._count(client, coll, now, self._read())
        if limit == 0 or offset >= total:
            return [], total
        wanted = sorted(self._ids(client, coll, not_expired(now), offset + limit))[offset : offset + limit]
        entries = {e.id: e for e in self._get_sync(client, model_id, wanted)}
        return [entries[i] for i in wanted if i in entries], total

    def _ids(self, client: Any, coll: _Collection, expression: str, at_most: int | None) -> list[str]:
        """Ids passing `expression`, the smallest first (a query iterator runs in primary-key order),
        at most `at_most` of them (None: all)."""
        ids: list[str] = []
        batch = PAGE if at_most is None else max(1, min(PAGE, at_most))
        iterator = client.query_iterator(
            coll.name,
            batch_size=batch,
            filter=expression,
            output_fields=["id"],
            timeout=self._timeout,
            **self._read(),
        )
        try:
            while at_most is None or len(ids) < at_most:
                rows = iterator.next()
                if not rows:
                    break
                ids += [row["id"] for row in rows]
        finally:
            iterator.close()
        return ids if at_most is None else ids[:at_most]

    async def page_after(self, model_id: str, cursor: str | None, limit: int) -> list[Entry]:
        """Up to `limit` live entries whose ids come after `cursor` (None: from the first), in id
        order: a resumable scan of the whole gallery (the copy command's reader)."""

        def work(client: Any) -> list[Entry]:
            try:
                coll = self._collection(client, model_id)
            except _NoCollection:
                return []
            expression = not_expired(time.time())
            if cursor is not None:
                expression = f"id > {quote(cursor)} and {expression}"
            wanted = self._ids(client, coll, expression, limit)
            entries = {e.id: e for e in self._get_sync(client, model_id, wanted)}
            return [entries[i] for i in wanted if i in entries]

        return await self._read_call(model_id, work)

    async def ids(self, model_id: str) -> list[str]:
        """Every live id of a model, sorted (the copy command's cursor runs over it)."""

        def work(client: Any) -> list[str]:
            try:
                coll = self._collection(client, model_id)
            except _NoCollection:
                return []
            return sorted(self._ids(client, coll, not_expired(time.time()), None))

        return await self._read_call(model_id, work)

    async def count(self, model_id: str) -> int:
        def work(client: Any) -> int:
            try:
                self._collection(client, model_id)
            except _NoCollection:
                return 0
            return self._retrying(
                client, model_id, lambda c: self._count(client, c, time.time(), self._read())
            )

        return await self._read_call(model_id, work)

    def _count(self, client: Any, coll: _Collection, now: float, read: dict[str, Any]) -> int:
        rows = client.query(
            coll.name,
            filter=not_expired(now),
            output_fields=["count(*)"],
            timeout=self._timeout,
            **read,
        )
        return int(rows[0]["count(*)"]) if rows else 0

    async def search(
        self, model_id: str, query: np.ndarray, k: int, filters: SearchFilters | None = None
    ) -> list[Match]:
        query = unit_vector(query)
        if k <= 0:
            return []
        return await self._read_call(model_id, self._search_sync, model_id, query, k, filters)

    def _search_sync(
        self, client: Any, model_id: str, query: np.ndarray, k: int, filters: SearchFilters | None
    ) -> list[Match]:
        try:
            coll = self._collection(client, model_id)
        except _NoCollection:
            return []
        if query.size != coll.dim:
            raise Conflict(f"query of shape {query.shape} for a gallery of dimension {coll.dim}")
        expression = filter_expression(filters, time.time())
        hits = self._retrying(
            client,
            model_id,
            lambda c: client.search(
                c.name,
                data=[query.tolist()],
                filter=expression,
                limit=k,
                output_fields=[*SCALARS, "vector"],
                search_params=self._search_params(k),
                timeout=self._timeout,
                **self._read(),
            ),
        )
        matches: list[Match] = []
        floor = (
            None if filters is None or filters.min_similarity is None else np.float32(filters.min_similarity)
        )
        for hit in hits[0] if hits else []:
            similarity = float(np.float32(hit["distance"]))
            if floor is not None and np.float32(similarity) < floor:
                continue
            row = dict(hit.get("entity") or {})
            row.setdefault("id", hit["id"])
            matches.append(Match(_entry_from_row(model_id, row), min(1.0, max(-1.0, similarity))))
        matches.sort(key=lambda m: (-m.similarity, m.entry.id))
        return matches

    def _search_params(self, k: int) -> dict[str, Any]:
        if self.index == "HNSW":
            return {"metric_type": "COSINE", "params": {"ef": max(self._search_ef, k)}}
        if self.index == "IVF_FLAT":
            return {"metric_type": "COSINE", "params": {"nprobe": self._ivf_nprobe}}
        return {"metric_type": "COSINE", "params": {}}

    async def approximate(self, model_id: str) -> bool:
        """Whether searches go through an approximate index: every search but FLAT's."""
        return self.index != "FLAT"

    async def ping(self) -> bool:
        try:
            await self._call(lambda client: client.list_collections(timeout=min(self._timeout, 3.0)))
        except StoreUnavailable:
            return False
        except Exception as exc:
            log.warning("milvus: ping failed: %s", exc)
            return False
        if self._redis is not None:
            try:
                async with self._redis_errors():
                    await self._redis.ping()
            except StoreUnavailable:
                return False
        return True

    async def close(self) -> None:
        client, self._client = self._client, None
        self._collections.clear()
        if client is not None:
            await asyncio.to_thread(client.close)
        if self._redis is not None:
            await self._redis.aclose()

    # locks

    @asynccontextmanager
    async def _lock(self, model_id: str, entry_id: str) -> Any:
        """Mutual exclusion of the writes of one id: across replicas in Redis when there is one
        (a lease that outlives the Milvus calls it covers; waiting for it at most `lock_timeout_s`,
        then 503), else within the process (one process: Milvus Lite, or a single replica)."""
        if self._redis is None:
            async with _process_locks()(model_id, entry_id):
                yield
            return
        # within the process first: waiting replicas' coroutines do not all poll Redis
        async with _process_locks()(model_id, entry_id):
            lock = self._redis.lock(
                f"{self.redis_namespace}:{model_id}:lock:{entry_id}",
                # the lease outlives the calls it covers: a read, a load and a write at most
                timeout=self._lock_timeout + 4 * self._timeout,
                sleep=0.005,
                blocking_timeout=self._lock_timeout,
            )
            async with self._redis_errors():
                acquired = await lock.acquire()
            if not acquired:
                raise StoreUnavailable(
                    f"gallery entry {entry_id!r} is being enrolled elsewhere", retry_after=1
                )
            try:
                yield
            finally:
                try:
                    async with self._redis_errors():
                        await lock.release()
                except Exception as exc:  # expired lease: the write itself is done
                    log.warning("milvus: enrolment lock of %r not released: %s", entry_id, exc)

    @asynccontextmanager
    async def _redis_errors(self) -> Any:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(
                f"Redis (locks and thumbnails of the Milvus gallery) unreachable: {exc}"
            ) from exc


def _row(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "vector": np.asarray(entry.vector, dtype=np.float32).tolist(),
        "camera": NO_TEXT if entry.camera is None else entry.camera,
        "label": NO_TEXT if entry.label is None else entry.label,
        "timestamp": NO_TIME if entry.timestamp is None else float(entry.timestamp),
        "expires": NEVER if entry.expires_at is None else float(entry.expires_at),
        "created": float(entry.created),
        "updated": float(entry.updated),
        "count": int(entry.count),
        "tags": dict(entry.tags),
    }


def _entry_from_row(model_id: str, row: dict[str, Any]) -> Entry:
    timestamp = float(row["timestamp"])
    expires = float(row["expires"])
    tags = row.get("tags") or {}
    if isinstance(tags, str | bytes):
        import json

        tags = json.loads(tags)
    return Entry(
        id=str(row["id"]),
        model_id=model_id,
        vector=np.asarray(row["vector"], dtype=np.float32),
        camera=row["camera"] or None,
        label=row["label"] or None,
        timestamp=None if timestamp <= NO_TIME else timestamp,
        tags={str(k): str(v) for k, v in tags.items()},
        created=float(row["created"]),
        updated=float(row["updated"]),
        count=int(row["count"]),
        expires_at=None if expires >= NEVER else expires,
    )


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
