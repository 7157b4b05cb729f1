"""Tracks in the gallery: match-or-enroll decisions, id templates, all-or-nothing enrolment."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from service.core.errors import BadInput, Conflict, StoreUnavailable
from service.gallery.base import Entry
from service.gallery.memory_store import MemoryStore
from service.tracks.associate import TrackVector, check_template, decide, gallery_id
from service.tracks.enroll import check_free, enroll_all

MODEL = "m@1"


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def entry(entry_id: str, vector: np.ndarray, camera: str = "camA") -> Entry:
    return Entry(id=entry_id, model_id=MODEL, vector=vector, camera=camera)


def test_id_templates() -> None:
    check_template("{camera}:{start}:{track}")
    assert gallery_id("{camera}:{start}:{track}", "camA", 7, 1700000000.9) == "camA:1700000000:7"
    for bad, message in [
        ("{camera}", "must contain {track}"),
        ("{cam}:{track}", "unknown placeholder"),
        ("{track", "id_template"),
    ]:
        with pytest.raises(BadInput, match=message):
            check_template(bad)
    with pytest.raises(BadInput, match="not a valid gallery id"):
        gallery_id("{camera}/{track}", "camA", 1, None)


def test_match_or_enroll_matches_other_cameras_above_the_threshold_only() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.add(entry("camA:1", unit(1, 0, 0)))
        await store.add(entry("camA:2", unit(0, 1, 0)))
        await store.add(entry("camB:5", unit(0, 0, 1), camera="camB"))  # own camera: not a candidate
        tracks = [
            TrackVector(11, unit(0.9, 0.1, 0)),  # person camA:1
            TrackVector(12, unit(0, 0.05, 1)),  # close to camB:5 only, which is excluded
            TrackVector(13, unit(0.5, 0.5, 0.7)),  # under the threshold everywhere
        ]
        ids = {t.track_id: f"camB:{t.track_id}" for t in tracks}
        decisions = await decide(store, MODEL, tracks, "camB", 0.8, True, ids)
        assert [(d.result, d.gallery_id) for d in decisions] == [
            ("matched", "camA:1"),
            ("enrolled", "camB:12"),
            ("enrolled", "camB:13"),
        ]
        assert decisions[0].similarity == pytest.approx(float(unit(0.9, 0.1, 0) @ unit(1, 0, 0)), abs=1e-5)
        assert await store.count(MODEL) == 3  # deciding writes nothing

    asyncio.run(scenario())


def test_with_the_own_camera_included_a_returning_person_joins_the_earlier_track() -> None:
    async def scenario() -> None:
        tracks = [TrackVector(1, unit(1, 0)), TrackVector(2, unit(0, 1)), TrackVector(3, unit(0.95, 0.05))]
        ids = {t.track_id: f"camA:{t.track_id}" for t in tracks}
        decisions = await decide(MemoryStore(), MODEL, tracks, "camA", 0.9, False, ids)
        assert [(d.result, d.gallery_id, d.matched_in_request) for d in decisions] == [
            ("enrolled", "camA:1", False),
            ("enrolled", "camA:2", False),
            ("matched", "camA:1", True),
        ]
        excluded = await decide(MemoryStore(), MODEL, tracks, "camA", 0.9, True, ids)
        assert [d.result for d in excluded] == ["enrolled"] * 3

    asyncio.run(scenario())


def test_taken_ids_are_a_conflict() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        await store.add(entry("camA:1", unit(1, 0)))
        await check_free(store, MODEL, ["camA:2"])
        with pytest.raises(Conflict, match=r"already in use: camA:1\..*\{start\}"):
            await check_free(store, MODEL, ["camA:2", "camA:1"])

    asyncio.run(scenario())


class FailingStore(MemoryStore):
    """Fails the n-th add; optionally every delete too (Redis gone)."""

    def __init__(self, fail_at: int, deletes_fail: bool = False) -> None:
        super().__init__()
        self.fail_at, self.deletes_fail, self.adds = fail_at, deletes_fail, 0

    async def add(self, entry: Entry, mode: str = "replace") -> Entry:  # type: ignore[override]
        self.adds += 1
        if self.adds == self.fail_at:
            raise StoreUnavailable("the gallery store is unreachable")
        return await super().add(entry, mode)  # type: ignore[arg-type]

    async def delete(self, model_id: str, entry_id: str) -> bool:
        if self.deletes_fail:
            raise StoreUnavailable("the gallery store is unreachable")
        return await super().delete(model_id, entry_id)


class ThumbnailFails(MemoryStore):
    """Stores two thumbnails, then fails: the thumbnail is part of the entry."""

    thumbnails = 0

    async def put_thumbnail(
        self, model_id: str, entry_id: str, jpeg: bytes, expires_at: float | None
    ) -> None:
        self.thumbnails += 1
        if self.thumbnails > 2:
            raise RuntimeError("thumbnail store failed")
        await super().put_thumbnail(model_id, entry_id, jpeg, expires_at)


def test_enrolment_is_all_or_nothing() -> None:
    entries = [entry(f"camA:{i}", unit(1, i)) for i in range(4)]

    async def scenario() -> None:
        ok = MemoryStore()
        assert [e.id for e in await enroll_all(ok, entries, {}, thumbnails=True)] == [e.id for e in entries]
        assert await ok.count(MODEL) == 4

        failing = FailingStore(fail_at=3)
        await failing.add(entry("other", unit(0, 1)))  # someone else's entry stays
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await enroll_all(failing, entries, {}, thumbnails=False)
        assert [e.id for e in (await failing.list(MODEL, 0, 10))[0]] == ["other"]

        thumbs_fail = ThumbnailFails()
        crops = {e.id: [np.full((16, 8, 3), 100, np.uint8)] * 2 for e in entries}
        with pytest.raises(RuntimeError, match="thumbnail store failed"):
            await enroll_all(thumbs_fail, entries, crops, thumbnails=True)
        assert await thumbs_fail.count(MODEL) == 0 and thumbs_fail.thumbnails == 3  # the third failed

        gone = FailingStore(fail_at=3, deletes_fail=True)
        with pytest.raises(StoreUnavailable, match=r"after 2 of 4 .*: camA:0, camA:1, camA:2$"):
            await enroll_all(gone, entries, {}, thumbnails=False)

    asyncio.run(scenario())


def test_two_tracks_on_screen_together_never_take_one_id() -> None:
    """Two look-alikes in frame at once are two people: the second takes the next candidate over the
    threshold, or a new id; after the first has left, the same look-alike may be them coming back."""

    async def scenario() -> None:
        store = MemoryStore()
        await store.add(entry("camA:1", unit(1, 0, 0)))
        await store.add(entry("camA:2", unit(0.9, 0.44, 0)))
        tracks = [
            TrackVector(1, unit(1, 0.02, 0), first_frame=1, last_frame=50),
            TrackVector(2, unit(1, 0.03, 0), first_frame=40, last_frame=90),  # on screen with 1
            TrackVector(3, unit(1, 0.01, 0), first_frame=30, last_frame=60),  # with 1 and 2
            TrackVector(4, unit(1, 0.0, 0), first_frame=100, last_frame=120),  # after all three
        ]
        ids = {t.track_id: f"camB:{t.track_id}" for t in tracks}
        decisions = await decide(store, MODEL, tracks, "camB", 0.8, False, ids)
        assert [(d.result, d.gallery_id) for d in decisions] == [
            ("matched", "camA:1"),
            ("matched", "camA:2"),  # camA:1 is taken by track 1 while track 2 is on screen
            ("enrolled", "camB:3"),  # both gallery entries are taken by tracks on screen with it
            ("matched", "camA:1"),  # alone again: the best entry is free
        ]

    asyncio.run(scenario())
