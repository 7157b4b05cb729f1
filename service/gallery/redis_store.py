"""The gallery kept in Redis, shared by every replica, searched in each replica's memory: one atomic
Lua script per write, and a change stream that keeps the replicas fresh (layout in docs/gallery.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.core.errors import Conflict, StoreUnavailable
from service.gallery.base import EnrollMode, Entry, Match, SearchFilters
from service.gallery.enrolment import check_mode, fresh_entry, unit_vector
from service.gallery.matrix import GalleryMatrix

STREAM_MAXLEN = 100_000  # approximate cap of each model's change stream
# The change stream names ids; it keeps them no longer than this (a replica further behind reloads).
STREAM_MAX_AGE_S = 3600.0
BATCH = 1000  # entries per pipeline when loading, clearing or bulk enrolling
_DIM_ERROR = "GALLERY_DIM"  # prefix of the script error for a vector of another dimension
_VECTOR_DTYPE = np.dtype("<f4")
# the fields of an entry hash, in the order they are read back
FIELDS = ("vector", "camera", "label", "timestamp", "tags", "created", "updated", "count", "expires")
T = TypeVar("T")

# KEYS: entry, ids, dim, changes, expiry.
# ARGV: id, mode, vector, now, count, maxlen, tags JSON, reply (1: the stored FIELDS, 0: nothing),
#       then name/value pairs of the metadata fields that are given (camera, label, timestamp,
#       expires).
_ENROLL = """
local id, mode, vector, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local count, maxlen, tags = tonumber(ARGV[5]), ARGV[6], ARGV[7]
local dim = #vector / 4
local known = redis.call('GET', KEYS[3])
if known and tonumber(known) ~= dim then
  return redis.error_reply('GALLERY_DIM vector of dimension ' .. dim .. ', the gallery has ' .. known)
end
local created = now
if mode == 'add' and redis.call('EXISTS', KEYS[1]) == 1 then
  local old = redis.call('HMGET', KEYS[1], 'vector', 'count', 'created', 'tags')
  if #old[1] ~= #vector then
    return redis.error_reply('GALLERY_DIM stored vector of another dimension')
  end
  local old_count = tonumber(old[2])
  local mean, sq = {}, 0
  for i = 1, dim do
    local pos = (i - 1) * 4 + 1
    local v = struct.unpack('<f', old[1], pos) * old_count + struct.unpack('<f', vector, pos) * count
    mean[i] = v
    sq = sq + v * v
  end
  local norm = math.sqrt(sq)
  if norm == 0 then norm = 1 end
  for i = 1, dim do mean[i] = struct.pack('<f', mean[i] / norm) end
  vector = table.concat(mean)
  count = old_count + count
  created = old[3]
  local merged = cjson.decode(old[4] or '{}')
  for k, v in pairs(cjson.decode(tags)) do merged[k] = v end
  tags = next(merged) == nil and '{}' or cjson.encode(merged)
else
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'vector', vector, 'count', tostring(count), 'created', created,
  'updated', now, 'tags', tags)
for i = 9, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local expires = redis.call('HGET', KEYS[1], 'expires')
if expires then
  redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(expires) * 1000))
  redis.call('ZADD', KEYS[5], expires, id)
else
  redis.call('ZREM', KEYS[5], id)
end
redis.call('ZADD', KEYS[2], 0, id)
redis.call('SET', KEYS[3], tostring(dim))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'op', 'upsert', 'id', id)
if ARGV[8] == '1' then
  return redis.call('HMGET', KEYS[1], 'vector', 'camera', 'label', 'timestamp', 'tags', 'created',
    'updated', 'count', 'expires')
end
return 1
"""

# KEYS: entry, ids, changes, expiry, thumb.  ARGV: id, maxlen.
# The hash may be gone already (its retention ended): the id's other traces are removed all the same.
_DELETE = """
redis.call('DEL', KEYS[5])
local existed = redis.call('DEL', KEYS[1])
local listed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if existed == 0 and listed == 0 then return 0 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'delete', 'id', ARGV[1])
return existed
"""

# KEYS: ids, expiry, changes.  ARGV: now, maxlen, entry key prefix, batch, thumbnail key prefix.
_EXPIRE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. id, ARGV[5] .. id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'delete', 'id', id)
end
return ids
"""


@dataclass(frozen=True)
class _Keys:
    """The key names of one model."""

    prefix: str

    def entry(self, entry_id: str) -> str:
        return f"{self.prefix}:entry:{entry_id}"

    @property
    def ids(self) -> str:
        return f"{self.prefix}:ids"

    @property
    def dim(self) -> str:
        return f"{self.prefix}:dim"

    @property
    def changes(self) -> str:
        return f"{self.prefix}:changes"

    @property
    def expiry(self) -> str:
        return f"{self.prefix}:expiry"

    def thumb(self, entry_id: str) -> str:
        return f"{self.prefix}:thumb:{entry_id}"


@dataclass
class _Replica:
    """The local copy of one model's gallery and the last change-stream id it reflects."""

    matrix: GalleryMatrix | None = None  # None: never loaded
    last_id: bytes | None = None  # None: the stream was empty when loaded
    # The fields of that change: a stream deleted and written again within the same millisecond can
    # reuse its id for another change, which only the fields tell apart.
    last_fields: dict[bytes, bytes] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@contextmanager
def _redis_errors() -> Iterator[None]:
    """Turn an unreachable Redis into StoreUnavailable and a dimension clash into Conflict."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreUnavailable(f"gallery store (Redis) unreachable: {exc}") from exc
    except ResponseError as exc:
        message = str(exc)
        if _DIM_ERROR in message:
            raise Conflict(message[message.index(_DIM_ERROR) + len(_DIM_ERROR) :].strip()) from exc
        raise


class RedisStore:
    """GalleryStore on Redis (redis-py asyncio); connects lazily and reconnects by itself."""

    def __init__(
        self,
        url: str,
        namespace: str = "reid",
        *,
        timeout_s: float = 2.0,
        health_check_interval_s: float = 15.0,
        matrices: Callable[[], GalleryMatrix] = GalleryMatrix,
    ) -> None:
        self.namespace = namespace
        self._new_matrix = matrices  # the replicas searches run on
        # One quick retry on a broken connection reconnects after a Redis restart without the caller
        # noticing; timeouts are not retried, as the script may have run and an "add" is not
        # idempotent.
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            health_check_interval=health_check_interval_s,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1, supported_errors=(RedisConnectionError,)),
        )
        self._enroll = self._client.register_script(_ENROLL)
        self._delete = self._client.register_script(_DELETE)
        self._expire = self._client.register_script(_EXPIRE)
        self._waitaof: bool | None = None  # None: not probed yet
        self._replicas: dict[str, _Replica] = {}

    # writes

    async def add(self, entry: Entry, mode: EnrollMode = "replace") -> Entry:
        keys, args = self._enroll_call(entry, mode, time.time(), reply=True)
        with _redis_errors():
            values = await self._enroll(keys=keys, args=args)
        stored = _entry_from_fields(entry.model_id, entry.id, values)
        if stored is None:  # the script writes the hash before reading it back
            raise RuntimeError(f"gallery entry {entry.id!r} missing right after its enrolment")
        return stored

    async def enroll_many(self, entries: Iterable[Entry], mode: EnrollMode = "replace") -> int:
        """Enroll many entries, BATCH scripts per pipelined round trip; returns how many were
        stored. Each entry is atomic, the whole is not: on an error the earlier batches stay."""
        now = time.time()
        stored = 0
        for batch in _chunks(list(entries), BATCH):
            calls = [self._enroll_call(entry, mode, now, reply=False) for entry in batch]
            with _redis_errors():
                async with self._client.pipeline(transaction=False) as pipe:
                    for keys, args in calls:
                        await self._enroll(keys=keys, args=args, client=pipe)
                    await pipe.execute()
            stored += len(batch)
        return stored

    async def delete(self, model_id: str, entry_id: str) -> bool:
        keys = self._keys(model_id)
        with _redis_errors():
            deleted = await self._delete(
                keys=[keys.entry(entry_id), keys.ids, keys.changes, keys.expiry, keys.thumb(entry_id)],
                args=[entry_id, STREAM_MAXLEN],
            )
            await self._durable()
        return bool(deleted)

    async def expire(self, model_id: str, now: float) -> list[str]:
        keys = self._keys(model_id)
        gone: list[str] = []
        with _redis_errors():
            while True:
                ids = await self._expire(
                    keys=[keys.ids, keys.expiry, keys.changes],
                    args=[repr(now), STREAM_MAXLEN, keys.entry(""), BATCH, keys.thumb("")],
                )
                gone += [raw.decode() for raw in ids]
                if len(ids) < BATCH:
                    break
            oldest_ms = int((now - STREAM_MAX_AGE_S) * 1000)
            await self._client.xtrim(keys.changes, minid=f"{oldest_ms}-0", approximate=False)
            if gone:
                await self._durable()
        return gone

    async def _durable(self) -> None:
        """Wait until the local append-only file has the writes (WAITAOF, Redis >= 7.2): an erasure
        is acknowledged once it survives a Redis restart. Older Redis: as durable as its
        `appendfsync` setting makes it (`always` for the same guarantee)."""
        if self._waitaof is False:
            return
        try:
            await self._client.execute_command("WAITAOF", 1, 0, 2000)
            self._waitaof = True
        except ResponseError as exc:
            text = str(exc).lower()
            if "unknown command" in text or "appendonly is disabled" in text or "wrong number" in text:
                self._waitaof = False  # not available here: rely on the server's fsync policy
            else:
                raise

    async def clear(self, model_id: str) -> int:
        """Delete the model's entries BATCH at a time (never one long blocking command), then its
        keys, then log op=clear so every replica reloads. An enrolment that runs meanwhile may
        survive the clear."""
        keys = self._keys(model_id)
        removed = 0
        with _redis_errors():
            while ids := await self._client.zrange(keys.ids, 0, BATCH - 1):
                async with self._client.pipeline(transaction=True) as pipe:
                    pipe.delete(*(keys.entry(raw.decode()) for raw in ids))
                    pipe.delete(*(keys.thumb(raw.decode()) for raw in ids))
                    pipe.zrem(keys.ids, *ids)
                    deleted, _, _ = await pipe.execute()
                removed += int(deleted)
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(keys.ids, keys.dim, keys.expiry)
                pipe.xadd(keys.changes, {"op": "clear", "id": ""}, maxlen=STREAM_MAXLEN, approximate=True)
                await pipe.execute()
            await self._durable()
        return removed

    async def put_thumbnail(
        self, model_id: str, entry_id: str, jpeg: bytes, expires_at: float | None
    ) -> None:
        key = self._keys(model_id).thumb(entry_id)
        with _redis_errors():
            if expires_at is None:
                await self._client.set(key, jpeg)
            else:
                await self._client.set(key, jpeg, pxat=int(expires_at * 1000))

    async def get_thumbnail(self, model_id: str, entry_id: str) -> bytes | None:
        keys = self._keys(model_id)
        with _redis_errors():
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.exists(keys.entry(entry_id))
                pipe.get(keys.thumb(entry_id))
                exists, jpeg = await pipe.execute()
        return jpeg if exists else None

    # reads

    async def get(self, model_id: str, entry_id: str) -> Entry | None:
        """Read straight from Redis: one round trip, and fresher than the replica."""
        with _redis_errors():
            values = await self._client.hmget(self._keys(model_id).entry(entry_id), FIELDS)
        entry = _entry_from_fields(model_id, entry_id, values)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= time.time():
            return None  # Redis drops it within the millisecond; never show it meanwhile
        return entry

    async def list(self, model_id: str, offset: int, limit: int) -> tuple[list[Entry], int]:
        matrix = await self._synced(model_id)
        return matrix.page(offset, limit), len(matrix)

    async def count(self, model_id: str) -> int:
        return len(await self._synced(model_id))

    async def search(
        self, model_id: str, query: np.ndarray, k: int, filters: SearchFilters | None = None
    ) -> list[Match]:
        query = unit_vector(query)
        matrix = await self._synced(model_id)
        return matrix.search(query, k, filters)

    async def approximate(self, model_id: str) -> bool:
        replica = self._replicas.get(model_id)
        return replica is not None and replica.matrix is not None and replica.matrix.approximate

    async def ping(self) -> bool:
        try:
            with _redis_errors():
                return bool(await self._client.ping())
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._client.aclose()

    # the local replicas

    async def _synced(self, model_id: str) -> GalleryMatrix:
        """The replica of `model_id`, brought up to date with the change stream first."""
        replica = self._replicas.get(model_id)
        if replica is None:
            replica = self._replicas[model_id] = _Replica()
        async with replica.lock:
            with _redis_errors():
                matrix = replica.matrix
                if matrix is None or not await self._catch_up(model_id, replica, matrix):
                    matrix = await self._reload(model_id, replica)
            matrix.purge_expired(time.time())
        return matrix

    async def _catch_up(self, model_id: str, replica: _Replica, matrix: GalleryMatrix) -> bool:
        """Apply to `matrix` the changes logged since `replica.last_id`; False when only a reload
        can help (a clear, or the stream no longer holds the last id seen)."""
        keys = self._keys(model_id)
        if replica.last_id is None:  # the stream was empty: whatever is there now is all new
            return not await self._client.xrange(keys.changes, "-", "+", count=1)
        # Start at the last id seen, inclusive: it must come back first, or the stream was trimmed
        # past it (or deleted) and changes were lost.
        start, last_fields = replica.last_id, replica.last_fields
        touched: dict[str, None] = {}  # ordered set
        while True:
            batch = await self._client.xrange(keys.changes, start, "+", count=BATCH)
            if not batch or batch[0][0] != start or batch[0][1] != last_fields:
                return False
            for stream_id, fields in batch[1:]:
                if fields.get(b"op") == b"clear":
                    return False
                touched[fields[b"id"].decode()] = None
                start, last_fields = stream_id, fields
            if len(batch) < BATCH:
                break
        await self._refresh(model_id, matrix, list(touched))
        replica.last_id, replica.last_fields = start, last_fields
        return True

    async def _refresh(self, model_id: str, matrix: GalleryMatrix, entry_ids: Sequence[str]) -> None:
        """Bring the given ids to their current state in Redis: whatever the ops were, the hash
        now says it all (absent: deleted), so replaying a change twice is harmless."""
        keys = self._keys(model_id)
        for batch in _chunks(entry_ids, BATCH):
            async with self._client.pipeline(transaction=False) as pipe:
                for entry_id in batch:
                    pipe.hmget(keys.entry(entry_id), FIELDS)
                replies = await pipe.execute()
            for entry_id, values in zip(batch, replies, strict=True):
                entry = _entry_from_fields(model_id, entry_id, values)
                if entry is None:
                    matrix.remove(entry_id)
                else:
                    matrix.upsert(entry)

    async def _reload(self, model_id: str, replica: _Replica) -> GalleryMatrix:
        """Load the whole gallery of a model. The stream's last id is read before the ids, in the
        same round trip, so whatever changes while loading is replayed at the next catch-up."""
        keys = self._keys(model_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xrevrange(keys.changes, "+", "-", count=1)
            pipe.zrange(keys.ids, 0, -1)
            head, ids = await pipe.execute()
        matrix = self._new_matrix()
        await self._refresh(model_id, matrix, [raw.decode() for raw in ids])
        replica.matrix = matrix
        replica.last_id, replica.last_fields = (head[0][0], head[0][1]) if head else (None, None)
        return matrix

    # helpers

    def _keys(self, model_id: str) -> _Keys:
        return _Keys(f"{self.namespace}:{model_id}")

    def _enroll_call(
        self, entry: Entry, mode: EnrollMode, now: float, *, reply: bool
    ) -> tuple[list[str], list[str | bytes | int]]:
        """KEYS and ARGV of the enrol script for one entry."""
        check_mode(mode)
        entry = fresh_entry(entry, now)  # the "add" merge itself runs in _ENROLL, atomically
        keys = self._keys(entry.model_id)
        vector = entry.vector.astype(_VECTOR_DTYPE).tobytes()
        args: list[str | bytes | int] = [
            entry.id,
            mode,
            vector,
            repr(now),
            entry.count,
            STREAM_MAXLEN,
            json.dumps(entry.tags),
            1 if reply else 0,
        ]
        for name in ("camera", "label"):
            value = getattr(entry, name)
            if value is not None:
                args += [name, value]
        if entry.timestamp is not None:
            args += ["timestamp", repr(float(entry.timestamp))]
        if entry.expires_at is not None:
            args += ["expires", repr(float(entry.expires_at))]
        return [keys.entry(entry.id), keys.ids, keys.dim, keys.changes, keys.expiry], args


def _entry_from_fields(model_id: str, entry_id: str, values: Sequence[bytes | None]) -> Entry | None:
    """An entry from the HMGET of FIELDS (a fixed list is half the reply of HGETALL to parse);
    None when the hash does not exist."""
    vector, camera, label, timestamp, tags, created, updated, count, expires = values
    if vector is None or created is None or updated is None or count is None:
        return None
    return Entry(
        id=entry_id,
        model_id=model_id,
        vector=np.frombuffer(vector, dtype=_VECTOR_DTYPE).astype(np.float32),
        camera=None if camera is None else camera.decode(),
        label=None if label is None else label.decode(),
        timestamp=None if timestamp is None else float(timestamp),
        tags=json.loads(tags) if tags else {},
        created=float(created),
        updated=float(updated),
        count=int(count),
        expires_at=None if expires is None else float(expires),
    )


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
