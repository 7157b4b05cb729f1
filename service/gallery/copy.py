"""Copy one model's gallery between stores (Redis -> Milvus and back), resumable, counts checked.

    python -m service.gallery.copy --model osnet@1 \\
        --from redis://127.0.0.1:6379/0 --to milvus:http://127.0.0.1:19530 \\
        --checkpoint copy-osnet.json

A store is `redis://...` (or `rediss://`; its key prefix from --from-namespace/--to-namespace,
default "reid") or `milvus:URI` (a server URI or a Milvus Lite file; the collection prefix from
--from-prefix/--to-prefix, default "reid"). The copy reads the source in id order, BATCH entries at
a time, and writes them as they are (vector, metadata, created, updated, count, retention): an
entry copied twice is the same entry, so a copy interrupted anywhere is resumed from the checkpoint
(the last id written) by running the same command again. Expired entries are not copied. At the end
the two counts are compared: the command exits 1 when they differ (the source was written to
meanwhile, or the target held other entries: copy into an empty gallery, with the writers stopped).

Thumbnails are not copied unless --thumbnails: with Redis beside Milvus they are already where the
Milvus store looks for them (the same keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.gallery.base import Entry, GalleryStore
from service.gallery.memory_store import MemoryStore
from service.gallery.redis_store import FIELDS, RedisStore, _entry_from_fields

BATCH = 1000


@dataclass
class CopyReport:
    model_id: str
    copied: int  # entries written by this run
    source_count: int
    target_count: int
    resumed_after: str | None
    seconds: float

    @property
    def matches(self) -> bool:
        return self.source_count == self.target_count

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "counts_match": self.matches}


async def page_after(store: GalleryStore, model_id: str, cursor: str | None, limit: int) -> list[Entry]:
    """Up to `limit` live entries with ids after `cursor`, in id order, read without loading the
    whole gallery where the store allows it."""
    if isinstance(store, RedisStore):
        return await _redis_page_after(store, model_id, cursor, limit)
    reader = getattr(store, "page_after", None)
    if reader is not None:  # MilvusStore
        return await reader(model_id, cursor, limit)
    # any other store (memory): its id-ordered pages, skipping to the cursor
    entries, _ = await store.list(model_id, 0, 2**62)
    return [e for e in entries if cursor is None or e.id > cursor][:limit]


async def _redis_page_after(store: RedisStore, model_id: str, cursor: str | None, limit: int) -> list[Entry]:
    # every id has score 0 in the ids set, so its lexicographic range is the id order (UTF-8 bytes
    # order as code points do)
    keys = store._keys(model_id)
    client = store._client
    low = "-" if cursor is None else f"({cursor}"
    raw_ids = await client.zrangebylex(keys.ids, low, "+", start=0, num=limit)
    ids = [raw.decode() for raw in raw_ids]
    async with client.pipeline(transaction=False) as pipe:
        for entry_id in ids:
            pipe.hmget(keys.entry(entry_id), FIELDS)
        replies = await pipe.execute()
    now = time.time()
    entries = []
    for entry_id, values in zip(ids, replies, strict=True):
        entry = _entry_from_fields(model_id, entry_id, values)
        if entry is not None and (entry.expires_at is None or entry.expires_at > now):
            entries.append(entry)
    return entries


async def put_entries(store: GalleryStore, entries: Sequence[Entry]) -> None:
    """Write entries as they are (created, updated and count kept): idempotent."""
    if not entries:
        return
    writer = getattr(store, "put_entries", None)
    if writer is not None:  # MilvusStore
        await writer(entries)
    elif isinstance(store, RedisStore):
        await store.enroll_many(entries, "replace")  # normalised already: the vectors are unchanged
        async with store._client.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.hset(
                    store._keys(entry.model_id).entry(entry.id),
                    mapping={"created": repr(entry.created), "updated": repr(entry.updated)},
                )
            await pipe.execute()
    elif isinstance(store, MemoryStore):
        for entry in entries:
            await store.add(entry, "replace")
            matrix = store._models[entry.model_id]
            matrix.upsert(entry)  # created/updated as given
    else:
        raise TypeError(f"cannot write entries as they are into {type(store).__name__}")


def _load_checkpoint(path: Path | None, key: dict[str, str]) -> tuple[str | None, int]:
    if path is None or not path.exists():
        return None, 0
    state = json.loads(path.read_text())
    if state.get("key") != key:
        raise SystemExit(
            f"{path} is the checkpoint of another copy ({state.get('key')}); remove it or name another"
        )
    return state.get("cursor"), int(state.get("copied", 0))


def _save_checkpoint(path: Path | None, key: dict[str, str], cursor: str | None, copied: int) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"key": key, "cursor": cursor, "copied": copied}))
    tmp.replace(path)  # atomic: a kill leaves the old checkpoint or the new one


async def copy_gallery(
    source: GalleryStore,
    target: GalleryStore,
    model_id: str,
    *,
    checkpoint: Path | None = None,
    checkpoint_key: dict[str, str] | None = None,
    batch: int = BATCH,
    thumbnails: bool = False,
    stop_after: int | None = None,
) -> CopyReport:
    """Copy `model_id`'s entries from `source` to `target` in id order, saving the last id written
    to `checkpoint` after every batch and starting after the one it holds. `stop_after` (tests)
    stops once that many entries were written by this run, as an interruption would."""
    began = time.monotonic()
    key = {"model": model_id, **(checkpoint_key or {})}
    cursor, copied_before = _load_checkpoint(checkpoint, key)
    resumed_after = cursor
    copied = 0
    while True:
        limit = batch if stop_after is None else min(batch, stop_after - copied)
        if limit <= 0:
            break
        entries = await page_after(source, model_id, cursor, limit)
        if not entries:
            break
        await put_entries(target, entries)
        if thumbnails:
            for entry in entries:
                jpeg = await source.get_thumbnail(model_id, entry.id)
                if jpeg is not None:
                    await target.put_thumbnail(model_id, entry.id, jpeg, entry.expires_at)
        copied += len(entries)
        cursor = entries[-1].id
        _save_checkpoint(checkpoint, key, cursor, copied_before + copied)
        if len(entries) < limit:
            break
    return CopyReport(
        model_id=model_id,
        copied=copied,
        source_count=await source.count(model_id),
        target_count=await target.count(model_id),
        resumed_after=resumed_after,
        seconds=round(time.monotonic() - began, 3),
    )


def open_spec(spec: str, namespace: str, prefix: str) -> GalleryStore:
    """`redis://...`, `rediss://...`, `milvus:URI`, or `memory:` (tests)."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec, namespace)
    if spec.startswith("milvus:"):
        from service.gallery.milvus_store import MilvusStore

        return MilvusStore(spec.removeprefix("milvus:"), prefix=prefix, redis_namespace=namespace)
    if spec == "memory:":
        return MemoryStore()
    raise SystemExit(f"unknown store {spec!r}: redis://..., rediss://... or milvus:URI")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.gallery.copy", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--from", dest="source", required=True, help="redis://... or milvus:URI")
    parser.add_argument("--to", dest="target", required=True, help="redis://... or milvus:URI")
    parser.add_argument("--model", required=True, help="the model id (name@version) whose gallery to copy")
    parser.add_argument("--from-namespace", default="reid", help="Redis key prefix of the source")
    parser.add_argument("--to-namespace", default="reid", help="Redis key prefix of the target")
    parser.add_argument("--from-prefix", default="reid", help="Milvus collection prefix of the source")
    parser.add_argument("--to-prefix", default="reid", help="Milvus collection prefix of the target")
    parser.add_argument("--checkpoint", type=Path, help="resume file (the last id written)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--thumbnails", action="store_true", help="copy the thumbnails too")
    args = parser.parse_args(argv)

    async def run() -> CopyReport:
        source = open_spec(args.source, args.from_namespace, args.from_prefix)
        target = open_spec(args.target, args.to_namespace, args.to_prefix)
        try:
            return await copy_gallery(
                source,
                target,
                args.model,
                checkpoint=args.checkpoint,
                checkpoint_key={"from": args.source, "to": args.target},
                batch=args.batch,
                thumbnails=args.thumbnails,
            )
        finally:
            await source.close()
            await target.close()

    report = asyncio.run(run())
    print(json.dumps(report.as_dict()))
    if not report.matches:
        print(
            f"counts differ: source {report.source_count}, target {report.target_count} "
            "(written to meanwhile, or the target was not empty)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
