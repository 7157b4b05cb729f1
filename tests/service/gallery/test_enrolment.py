"""The gallery's rules, apart from any store: what an enrolment stores given what the id holds."""

from __future__ import annotations

import numpy as np
import pytest

from service.core.errors import Conflict
from service.gallery.base import Entry
from service.gallery.enrolment import enrolled, expiry_time


def entry(vector: list[float], **fields: object) -> Entry:
    return Entry("p", "m@1", np.array(vector, np.float32), **fields)  # type: ignore[arg-type]


def test_replace_stores_a_normalised_copy_created_now() -> None:
    old = entry([1.0, 0.0], camera="A", count=3, created=1.0)
    stored = enrolled(old, entry([0.0, 2.0], label="x"), "replace", now=5.0)
    np.testing.assert_allclose(stored.vector, [0.0, 1.0])
    assert (stored.camera, stored.label, stored.count, stored.created, stored.updated) == (
        None,
        "x",
        1,
        5.0,
        5.0,
    )


def test_add_averages_by_count_keeps_the_first_creation_and_merges_metadata() -> None:
    old = entry([1.0, 0.0], camera="A", tags={"a": "1"}, count=3, created=1.0, expires_at=9.0)
    stored = enrolled(old, entry([0.0, 1.0], label="x", tags={"b": "2"}), "add", now=5.0)
    np.testing.assert_allclose(stored.vector, np.array([3.0, 1.0]) / np.sqrt(10.0), rtol=1e-6)
    assert (stored.camera, stored.label, stored.tags) == ("A", "x", {"a": "1", "b": "2"})
    assert (stored.count, stored.created, stored.updated, stored.expires_at) == (4, 1.0, 5.0, 9.0)
    assert enrolled(None, entry([0.0, 1.0]), "add", now=5.0).count == 1  # nothing held: a fresh entry


def test_what_cannot_be_merged_is_refused() -> None:
    with pytest.raises(Conflict):
        enrolled(entry([1.0, 0.0]), entry([1.0, 0.0, 0.0]), "add", now=1.0)
    with pytest.raises(ValueError, match="mode"):
        enrolled(None, entry([1.0, 0.0]), "merge", now=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        enrolled(None, entry([1.0, 0.0], count=0), "replace", now=1.0)


def test_expiry() -> None:
    assert expiry_time(10.0, None) is None and expiry_time(10.0, 5) == 15.0
