"""`python -m service.gallery.copy`: a gallery copied between stores (memory, Redis, Milvus Lite)
comes out the same, an interrupted copy resumes from its checkpoint, and the counts are checked."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from service.gallery import Entry, GalleryStore, MemoryStore, RedisStore
from service.gallery.copy import copy_gallery, main

pytest.importorskip("milvus_lite", reason="the `milvus` extra is not installed")

from service.gallery.milvus_store import MilvusStore

MODEL = "osnet@1"


def gallery(n: int) -> list[Entry]:
    rows = np.random.default_rng(2).standard_normal((n, 8))
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return [
        Entry(
            f"id{i:03d}",
            MODEL,
            rows[i],
            camera=f"c{i % 3}",
            label=None if i % 2 else f"l{i}",
            timestamp=1000.0 + i,
            tags={"k": str(i)},
            count=1 + i % 4,
            expires_at=None if i % 5 else 4_000_000_000.0 + i,
        )
        for i in range(n)
    ]


async def fill(store: GalleryStore, entries: list[Entry]) -> None:
    for entry in entries:
        await store.add(entry)


def same(a: Entry, b: Entry) -> bool:
    return (
        (a.id, a.model_id, a.camera, a.label, a.timestamp, a.tags, a.count, a.expires_at)
        == (b.id, b.model_id, b.camera, b.label, b.timestamp, b.tags, b.count, b.expires_at)
        and a.created == pytest.approx(b.created)
        and a.updated == pytest.approx(b.updated)
        and np.allclose(a.vector, b.vector, atol=1e-7)
    )


async def everything(store: GalleryStore) -> dict[str, Entry]:
    entries, _ = await store.list(MODEL, 0, 10_000)
    return {e.id: e for e in entries}


def lite(path: Path) -> Callable[[], MilvusStore]:
    return functools.partial(MilvusStore, str(path), prefix=f"t{uuid.uuid4().hex[:12]}", index="FLAT")


def round_trip(first: Callable[[], GalleryStore], second: Callable[[], GalleryStore], tmp: Path) -> None:
    """first -> second, interrupted after 40 entries and resumed; then second -> a fresh first."""

    async def body() -> None:
        source, target, back = first(), second(), first()
        try:
            await fill(source, gallery(95))
            original = await everything(source)
            checkpoint = tmp / "copy.json"
            partial = await copy_gallery(
                source, target, MODEL, checkpoint=checkpoint, batch=16, stop_after=40
            )
            assert partial.copied == 40 and not partial.matches
            assert json.loads(checkpoint.read_text())["cursor"] == "id039"
            rest = await copy_gallery(source, target, MODEL, checkpoint=checkpoint, batch=16)
            assert rest.resumed_after == "id039" and rest.copied == 55
            assert rest.matches and rest.source_count == rest.target_count == 95
            copied = await everything(target)
            assert copied.keys() == original.keys()
            assert all(same(original[i], copied[i]) for i in original)
            again = await copy_gallery(target, back, MODEL, batch=50)  # and back, no checkpoint
            assert again.matches and again.copied == 95
            returned = await everything(back)
            assert all(same(original[i], returned[i]) for i in original)
            # the copy searches like the original
            hits = await target.search(MODEL, original["id007"].vector, 1)
            assert [m.entry.id for m in hits] == ["id007"]
        finally:
            for store in (source, target, back):
                await store.close()

    asyncio.run(body())


def test_memory_to_milvus_lite_and_back(tmp_path: Path) -> None:
    round_trip(MemoryStore, lite(tmp_path / "lite.db"), tmp_path)


def test_redis_to_milvus_lite_and_back(tmp_path: Path, redis_url: str, namespace: str) -> None:
    round_trip(functools.partial(RedisStore, redis_url, namespace), lite(tmp_path / "lite.db"), tmp_path)


def test_the_command_checks_counts(
    tmp_path: Path, redis_url: str, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_fill_redis(redis_url, namespace, gallery(30)))
    db = tmp_path / "lite.db"
    args = ["--model", MODEL, "--from", redis_url, "--from-namespace", namespace, "--to-prefix", "cmd"]
    assert main([*args, "--to", f"milvus:{db}", "--checkpoint", str(tmp_path / "c.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["copied"] == 30 and report["counts_match"] and report["target_count"] == 30
    # run again: resumes after the last id, copies nothing, counts still match
    assert main([*args, "--to", f"milvus:{db}", "--checkpoint", str(tmp_path / "c.json")]) == 0
    assert json.loads(capsys.readouterr().out)["copied"] == 0
    # a target holding other entries: the counts differ, exit 1
    asyncio.run(_fill_redis(redis_url, namespace, [Entry("extra", MODEL, np.ones(8, np.float32))]))
    back = ["--model", MODEL, "--from", f"milvus:{db}", "--from-prefix", "cmd", "--to-namespace", namespace]
    assert main([*back, "--to", redis_url]) == 1
    assert "counts differ" in capsys.readouterr().err


async def _fill_redis(url: str, namespace: str, entries: list[Entry]) -> None:
    store = RedisStore(url, namespace)
    try:
        await fill(store, entries)
    finally:
        await store.close()
