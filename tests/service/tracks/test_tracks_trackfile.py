"""Tracker files: MOTChallenge CSV and JSON boxes, errors with their line or item, limits while reading."""

from __future__ import annotations

import json

import pytest

from service.core.errors import BadInput, TooLarge
from service.tracks.mot import relabelled_mot
from service.tracks.trackfile import Box, TrackFileLimits, parse_tracker_file

LIMITS = TrackFileLimits()


def parse(text: str, limits: TrackFileLimits = LIMITS):
    return parse_tracker_file(text.encode(), limits)


def test_mot_lines_group_by_track_in_frame_order_with_extra_columns_and_blank_lines() -> None:
    text = (
        "\ufeff2,7,10.5,20,40,100,0.9,-1,-1,-1\n"
        "\n"
        "1,7,11,21,40,100,0.8,-1,-1,-1\r\n"
        "  1,3,200,30,50,120,1,1,0.5  \n"
        "\n"
    )
    tracker = parse(text)
    assert tracker.format == "mot" and tracker.boxes == 3
    assert list(tracker.tracks) == [3, 7]
    assert tracker.tracks[7] == [Box(1, 11, 21, 40, 100, 0.8), Box(2, 10.5, 20, 40, 100, 0.9)]
    assert tracker.last_frame == 2 and tracker.last_frame_where == "line 1"


def test_mot_without_a_score_column_and_float_formatted_ids() -> None:
    tracker = parse("1.0,4.00,0,0,10,20\n3 4 1 1 10 20\n")  # six columns; one whitespace-separated
    assert [b.conf for b in tracker.tracks[4]] == [None, None]
    assert [b.frame for b in tracker.tracks[4]] == [1, 3]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,2,3,4,5", r"line 2: expected at least 6 values"),
        ("0,2,3,4,5,6", r"line 2: frame 0; MOTChallenge frames start at 1"),
        ("1,-1,3,4,5,6,0.9", r"line 2: track id -1; untracked detections"),
        ("1,2.5,3,4,5,6", r"line 2: track id '2.5' is not a whole number"),
        ("1,2,x,4,5,6", r"line 2: x 'x' is not a number"),
        ("1,2,3,nan,5,6", r"line 2: y is nan"),
        ("1,2,3,4,0,6", r"line 2: box of size 0.0x6.0"),
        ("1,1,3,4,5,6", r"line 2: track 1 has a second box in frame 1"),
        ("1,2,3,4,5,6,high", r"line 2: conf 'high' is not a number"),
        ("1,2,3,4,5,6" + "," * 2000, r"line 2: over 1024 characters"),
        ("1,2,1.7e308,4,1.7e308,6", r"line 2: box .* is beyond 1e\+06 pixels"),
    ],
)
def test_bad_mot_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse(f"1,1,0,0,10,20,1\n{line}\n")


def test_empty_and_non_utf8_files() -> None:
    with pytest.raises(BadInput, match="holds no boxes"):
        parse("\n\n")
    with pytest.raises(BadInput, match="not UTF-8"):
        parse_tracker_file(b"1,1,0,0,\xff\xfe", LIMITS)


@pytest.mark.parametrize(
    ("limits", "lines", "message"),
    [
        (TrackFileLimits(max_boxes=3), [f"{f},1,0,0,5,5" for f in range(1, 6)], r"line 4: more than 3 boxes"),
        (TrackFileLimits(max_tracks=2), [f"1,{t},0,0,5,5" for t in range(5)], r"line 3: more than 2 tracks"),
        (
            TrackFileLimits(max_boxes_per_frame=2),
            ["1,1,0,0,5,5", "2,1,0,0,5,5", "2,2,0,0,5,5", "2,3,0,0,5,5"],
            r"line 4: more than 2 boxes in frame 2",
        ),
    ],
)
def test_limits_stop_at_the_line_that_crosses_them(
    limits: TrackFileLimits, lines: list[str], message: str
) -> None:
    with pytest.raises(TooLarge, match=message):
        parse("\n".join(lines), limits)


def test_byte_limit_before_parsing() -> None:
    with pytest.raises(TooLarge, match="over the limit of 10"):
        parse("1,1,0,0,5,5\n1,2,0,0,5,5\n", TrackFileLimits(max_bytes=10))


def test_json_boxes() -> None:
    items = [
        {"frame": 2, "track_id": 5, "x": 1, "y": 2, "w": 30, "h": 60, "conf": 0.7},
        {"frame": 1, "track_id": 5, "x": 0.5, "y": 2, "w": 30, "h": 60},
    ]
    tracker = parse(json.dumps(items))
    assert tracker.format == "json"
    assert tracker.tracks[5] == [Box(1, 0.5, 2, 30, 60, None), Box(2, 1, 2, 30, 60, 0.7)]
    assert tracker.last_frame_where == "item 0"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [{"frame": 1, "track_id": 1, "x": 0, "y": 0, "w": 5, "h": 5, "score": 1}],
            r"item 0: score: Extra inputs",
        ),
        (
            [{"frame": 1, "track_id": 1, "x": 0, "y": 0, "w": 5, "h": 5}, {"frame": 0}],
            r"item 1: frame: Input should be greater",
        ),
        (
            [{"frame": 1, "track_id": 1, "x": 0, "y": 0, "w": -5, "h": 5}],
            r"item 0: w: Input should be greater than 0",
        ),
        (
            [{"frame": 1, "track_id": 1, "x": "a", "y": 0, "w": 5, "h": 5}],
            r"item 0: x: Input should be a valid number",
        ),
        (
            [{"frame": 1, "track_id": 1, "x": 0, "y": 0, "w": 5, "h": 5}] * 2,
            r"item 1: track 1 has a second box in frame 1",
        ),
        ([3], r"item 0: box: Input should be a valid dictionary"),
        ({"boxes": []}, r"JSON must be a list of boxes"),
    ],
)
def test_bad_json_items_are_named(items: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse(json.dumps(items))


def test_invalid_json_says_where() -> None:
    with pytest.raises(BadInput, match=r"invalid JSON at line 2, column 1"):
        parse('[{"frame": 1,\n}]')
    with pytest.raises(BadInput, match=r"nested too deeply"):  # not a RecursionError, a 500
        parse("[" * 100_000)


def test_json_count_limit_before_validating_items() -> None:
    items = [{"frame": f, "track_id": 1, "x": 0, "y": 0, "w": 5, "h": 5} for f in range(1, 5)]
    with pytest.raises(TooLarge, match=r"4 boxes, over the limit of 3"):
        parse(json.dumps(items), TrackFileLimits(max_boxes=3))


def test_relabelled_mot_round_trips_under_gallery_ids() -> None:
    tracker = parse("2,7,10.5,20,40,100,0.9\n1,7,11,21,40,100\n1,3,200,30,50,120,1\n1,4,0,0,5,5,1\n")
    text = relabelled_mot(tracker, {7: "camA:7", 3: "camB:12"})
    assert text == (
        "1,camA:7,11,21,40,100,-1,-1,-1,-1\n"
        "1,camB:12,200,30,50,120,1,-1,-1,-1\n"
        "2,camA:7,10.5,20,40,100,0.9,-1,-1,-1\n"
    )  # track 4 has no gallery id (skipped): left out
