"""The built-in page in a real browser: Debian's headless Chromium driven by Playwright, against the
service on 127.0.0.1 (uvicorn in a thread).

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing
(`scripts/test.sh` installs Debian's chromium; Playwright's own browser download is never used).
Screenshots are test artefacts: under the test's tmp_path, and under $REID_ARTIFACTS when set.
`REID_UPDATE_DOCS_SCREENSHOT=1` also rewrites docs/ui.png, from synthetic people only: CUHK03's
terms forbid publishing its images, so the CUHK03 screenshot never leaves the artefacts.

The footage view is driven on real footage: twelve frames of PETS09-S2L1 (the detection tests' clip),
re-encoded to WebM VP8 for the browser (Chromium plays no MPEG-4 part 2), with the boxes a tracker
gave for it (data/vtest-100-111.mot.txt: the shipped detector and ByteTrack, as `service/detection`
makes them). What the page draws is read back from its overlay canvas, pixel by pixel, at the boxes
of that file; nothing test-only is exposed by the page.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from devtools.harness import LiveServer, ServerFactory
from service.api.routes.ui import SECURITY_HEADERS
from service.core.config import DEFAULT_MODEL

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # the dev extra not installed
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "page-test-key"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "ui.png"
VTEST = Path(__file__).resolve().parents[1] / "detection" / "data" / "vtest-100-111.mp4"
VTEST_MOT = Path(__file__).parent / "data" / "vtest-100-111.mot.txt"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)",
    ),
    pytest.mark.skipif(
        sync_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')"
    ),
]


def drawn_person(seed: int, count: int) -> list[bytes]:
    """JPEG crops of one drawn, synthetic walker (no real person): skin, hair, shirt and trousers of
    its own colours, stepping a little from frame to frame. Smooth, so screenshots stay small."""
    rng = np.random.default_rng(seed)
    skin, hair = rng.integers(120, 230, 3), rng.integers(10, 90, 3)
    shirt, trousers = rng.integers(20, 236, 3), rng.integers(20, 236, 3)
    frames = []
    for t in range(count):
        img = np.empty((128, 64, 3), np.uint8)
        img[:] = 190  # a plain wall: flat areas keep the screenshot small
        x, step = 32 + (t % 3) - 1, 3 * (t % 2 * 2 - 1)
        cv2.line(img, (x - 5, 76), (x - 6 - step, 120), trousers.tolist(), 8)
        cv2.line(img, (x + 5, 76), (x + 6 + step, 120), trousers.tolist(), 8)
        cv2.rectangle(img, (x - 11, 34), (x + 11, 80), shirt.tolist(), -1)
        cv2.line(img, (x - 12, 38), (x - 16 + step, 74), shirt.tolist(), 5)
        cv2.line(img, (x + 12, 38), (x + 16 - step, 74), shirt.tolist(), 5)
        cv2.circle(img, (x, 22), 10, skin.tolist(), -1)
        cv2.ellipse(img, (x, 18), (10, 7), 0, 180, 360, hair.tolist(), -1)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        frames.append(buf.tobytes())
    return frames


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    expect.set_options(timeout=15_000)  # a shared 2-core machine: the model may take seconds
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page and what it did: every request URL, console errors and uncaught exceptions."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, server: LiveServer) -> list[str]:
        own = (f"{server.url}/", f"blob:{server.url}/", "data:")
        return [url for url in self.requests if not url.startswith(own)]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Watched(page)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    yield seen
    context.close()


def save_screenshot(page: Page, tmp_path: Path, name: str, docs: bool = False) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("REID_ARTIFACTS"):
        artefacts = Path(os.environ["REID_ARTIFACTS"])
        artefacts.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, artefacts / name)
    if docs and os.environ.get("REID_UPDATE_DOCS_SCREENSHOT") == "1":
        from PIL import Image  # the train extra; only for this manual step

        # 256 colours: the JPEG thumbnails make a true-colour PNG of the page too heavy to commit
        with Image.open(shot) as image:
            palette = image.convert("RGB").quantize(256, Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            palette.save(DOCS_SCREENSHOT, optimize=True)
        assert DOCS_SCREENSHOT.stat().st_size < 300_000, "docs/ui.png is too large to commit"
    return shot


def thumbnails_loaded(page: Page, list_testid: str) -> None:
    """Wait until every thumbnail of the list is a decoded picture (none broken, none placeholder)."""
    page.wait_for_function(
        """testid => {
            const list = document.querySelector(`[data-testid="${testid}"]`);
            const imgs = [...list.querySelectorAll("img.thumb")];
            return imgs.length > 0 && !list.querySelector(".placeholder")
                && imgs.every(img => img.complete && img.naturalWidth > 0);
        }""",
        arg=list_testid,
    )


def give_key_when_asked(page: Page) -> None:
    """A write refused for want of a key: the page asks for it; the key given, the call is retried."""
    expect(page.get_by_test_id("status")).to_contain_text("needs an API key")
    expect(page.get_by_test_id("key-hint")).to_be_visible()
    expect(page.get_by_test_id("api-key")).to_be_focused()
    page.get_by_test_id("api-key").fill(KEY)
    page.get_by_test_id("key-save").click()


def enroll_delete_on_page(page: Page, entry_id: str, total_before: int) -> None:
    """Enroll the dropped tracklet under `entry_id` from the form (the page asks for the key), find
    it in the gallery browser, forget the key, and delete it (the page asks again)."""
    page.get_by_test_id("enroll-id").fill(entry_id)
    page.get_by_test_id("enroll-camera").fill("A")
    page.get_by_test_id("enroll-label").fill("walk-in")
    page.get_by_test_id("enroll-button").click()
    give_key_when_asked(page)
    expect(page.get_by_test_id("status")).to_contain_text(f"Enrolled {entry_id}")
    info = page.get_by_test_id("gallery-page-info")
    expect(info).to_have_text(f"1–{min(12, total_before + 1)} of {total_before + 1}")
    # ids sort after every person-*: the new entry is on the last page
    while page.get_by_test_id("gallery-next").is_enabled():
        page.get_by_test_id("gallery-next").click()
        expect(info).not_to_have_text(f"1–{min(12, total_before + 1)} of {total_before + 1}")
    entry = page.locator(f'[data-testid="gallery-card"][data-id="{entry_id}"]')
    expect(entry).to_contain_text("camera A · walk-in")
    thumbnails_loaded(page, "gallery")
    return_key = page.get_by_test_id("key-forget")
    return_key.click()
    delete = entry.get_by_test_id("delete")
    delete.click()
    expect(delete).to_have_text("Really delete?")
    delete.click()
    give_key_when_asked(page)
    expect(page.get_by_test_id("status")).to_contain_text(f"Deleted {entry_id}")
    expect(entry).to_have_count(0)
    expect(info).to_contain_text(f"of {total_before}")


def test_page_loads_everything_from_the_service_itself(serve: ServerFactory, watched: Watched) -> None:
    server = serve()
    with server.client(follow_redirects=False) as client:
        root = client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/ui/"
        static = [("/ui/", "text/html"), ("/ui/app.js", "javascript"), ("/ui/style.css", "text/css")]
        for path, kind in static:
            response = client.get(path)
            assert response.status_code == 200 and kind in response.headers["content-type"], path
            assert response.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "/ui" not in client.get("/openapi.json").json()["paths"]
    page = watched.page
    page.goto(f"{server.url}/")
    assert page.url == f"{server.url}/ui/"
    expect(page.get_by_test_id("readiness")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("readiness")).to_contain_text("tiny-test@0.1.0")
    card = page.get_by_test_id("model-card")
    expect(card).to_contain_text("tiny-test")
    expect(card).to_contain_text("64-d, cosine")
    expect(card).to_contain_text("64×48 RGB")
    expect(page.get_by_test_id("model-use")).to_contain_text("tests")
    expect(page.get_by_test_id("gallery-page-info")).to_have_text("0–0 of 0")
    # Nothing chosen: Match says so instead of posting an empty form.
    page.get_by_test_id("match-button").click()
    expect(page.get_by_test_id("status")).to_contain_text("drop or choose the tracklet first")
    assert watched.foreign_requests(server) == []
    assert watched.errors == []


def test_match_enroll_browse_and_delete_synthetic_people(
    serve: ServerFactory, watched: Watched, tmp_path: Path
) -> None:
    server = serve(api_key=KEY, protect_reads=False)  # reads open: the page browses, then asks to write
    seen = time.time() - 3600
    with server.client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        for i in range(14):
            files = [("frames", (f"{t}.jpg", f, "image/jpeg")) for t, f in enumerate(drawn_person(i, 6))]
            data = {"id": f"person-{i:02d}", "camera": "B", "label": "synthetic", "timestamp": str(seen + i)}
            assert client.post("/gallery", files=files, data=data).status_code == 201
    query = []
    for t, frame in enumerate(drawn_person(3, 4)):
        query.append(tmp_path / f"query_{t}.jpg")
        query[-1].write_bytes(frame)

    page = watched.page
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_test_id("gallery-page-info")).to_have_text("1–12 of 14")
    page.get_by_test_id("file-input").set_input_files([str(p) for p in query])
    expect(page.get_by_test_id("preview").locator("img")).to_have_count(4)
    expect(page.get_by_test_id("selection")).to_contain_text("4 frames")
    page.get_by_test_id("match-button").click()
    cards = page.get_by_test_id("match-card")
    expect(cards).to_have_count(5)
    expect(cards.first).to_have_attribute("data-id", "person-03")
    expect(cards.first).to_contain_text("#1 · similarity")
    expect(cards.first).to_contain_text("camera B · synthetic")
    expect(page.get_by_test_id("results-summary")).to_contain_text("4 of 4 frames received")
    thumbnails_loaded(page, "results")
    thumbnails_loaded(page, "gallery")

    enroll_delete_on_page(page, "visitor-1", total_before=14)
    # the picture of the page for the README: synthetic people, and their best match
    page.get_by_test_id("gallery-prev").click()
    expect(page.get_by_test_id("gallery-page-info")).to_have_text("1–12 of 14")
    thumbnails_loaded(page, "gallery")
    save_screenshot(page, tmp_path, "ui-synthetic.png", docs=True)
    with server.client() as client:
        assert client.get("/gallery/visitor-1").status_code == 404
    assert watched.foreign_requests(server) == []
    # the refusals asked for the key (401s are expected); nothing else went wrong
    assert [e for e in watched.errors if "401" not in e] == []


def test_with_a_key_set_the_page_asks_for_it_before_it_shows_the_gallery(
    serve: ServerFactory, watched: Watched
) -> None:
    """Reads need a key by default once keys exist: the page's first gallery load is refused, asks for
    the key, and shows the people (thumbnails fetched with the key) once it is given."""
    server = serve(api_key=KEY)
    with server.client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        for i in range(3):
            files = [("frames", (f"{t}.jpg", f, "image/jpeg")) for t, f in enumerate(drawn_person(i, 4))]
            assert client.post("/gallery", files=files, data={"id": f"person-{i}"}).status_code == 201
    page = watched.page
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_test_id("model-card")).to_contain_text("tiny-test")  # the card needs no key
    give_key_when_asked(page)
    expect(page.get_by_test_id("gallery-page-info")).to_have_text("1–3 of 3")
    thumbnails_loaded(page, "gallery")
    assert watched.foreign_requests(server) == []
    assert [e for e in watched.errors if "401" not in e] == []


@pytest.mark.cuhk03
def test_a_real_person_is_found_first_on_the_page(
    serve: ServerFactory, watched: Watched, cuhk03_root: Path, tmp_path: Path
) -> None:
    val = cuhk03_root / "labeled" / "val"
    people = sorted({p.name[:4] for p in val.glob("*_0[5-9].jpg")})[:10]
    camera_a = {pid: sorted(val.glob(f"{pid}_0[0-4].jpg")) for pid in people}
    camera_b = {pid: sorted(val.glob(f"{pid}_0[5-9].jpg")) for pid in people}
    server = serve(model_path=DEFAULT_MODEL, api_key=KEY, protect_reads=False)
    with server.client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        for pid in people:
            files = [("frames", (p.name, p.read_bytes(), "image/jpeg")) for p in camera_b[pid]]
            data = {"id": f"person-{pid}", "camera": "B", "label": "cuhk03", "timestamp": str(time.time())}
            assert client.post("/gallery", files=files, data=data).status_code == 201

    query = people[0]
    assert camera_a[query], f"no camera A images of {query}"
    page = watched.page
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_test_id("model-card")).to_contain_text("osnet-ain-multisite")
    expect(page.get_by_test_id("model-card")).to_contain_text("cuhk03 figures")
    page.get_by_test_id("file-input").set_input_files([str(p) for p in camera_a[query]])
    expect(page.get_by_test_id("preview").locator("img")).to_have_count(len(camera_a[query]))
    page.get_by_test_id("top-k").fill("5")
    page.get_by_test_id("match-button").click()
    cards = page.get_by_test_id("match-card")
    expect(cards).to_have_count(5)
    expect(cards.first).to_have_attribute("data-id", f"person-{query}")
    thumbnails_loaded(page, "results")
    save_screenshot(page, tmp_path, "ui-cuhk03.png")  # an artefact only: never published

    enroll_delete_on_page(page, f"visitor-{query}", total_before=len(people))
    assert watched.foreign_requests(server) == []
    assert [e for e in watched.errors if "401" not in e] == []


# --- The footage view.


def webm_of(source: Path, target: Path, order: Sequence[int] | None = None) -> Path:
    """`source` re-encoded as WebM VP8 at its frame rate (frames in `order`, default as they are): a
    codec Chromium plays and the service decodes."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"VP80"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write WebM VP8 here"
    for i in order if order is not None else range(len(frames)):
        writer.write(frames[i])
    writer.release()
    return target


def mot_boxes(text: str) -> dict[int, dict[int, tuple[float, float, float, float]]]:
    """frame -> track id -> (x, y, w, h), from MOTChallenge lines."""
    boxes: dict[int, dict[int, tuple[float, float, float, float]]] = {}
    for line in text.splitlines():
        frame, track, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes.setdefault(int(frame), {})[int(track)] = (x, y, w, h)
    return boxes


def overlay_pixel(page: Page, x: float, y: float) -> tuple[int, int, int, int]:
    """RGBA of the overlay canvas (drawn at the video's own pixel size) at pixel (x, y)."""
    rgba = page.evaluate(
        """([x, y]) => [...document.querySelector('[data-testid="overlay"]')
                .getContext("2d").getImageData(x, y, 1, 1).data]""",
        [int(x), int(y)],
    )
    return tuple(rgba)  # type: ignore[return-value]


def swatch_rgb(page: Page, person_id: str) -> tuple[int, int, int]:
    colour = page.locator(f'[data-testid="person"][data-id="{person_id}"] [data-testid="swatch"]').evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    r, g, b = (int(v) for v in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3])
    return r, g, b


def strips_cut(page: Page, count: int) -> None:
    """Wait until `count` strips are cut from the clip, and check they hold a picture (not one flat
    colour, as a failed cut or a blank canvas would)."""
    page.wait_for_function(
        """count => {
            const strips = [...document.querySelectorAll('[data-testid="person"] [data-testid="strip"]')];
            return strips.length === count && strips.every(s => s.dataset.ready === "true");
        }""",
        arg=count,
    )
    spreads = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="person"] [data-testid="strip"]')].map(s => {
            const d = s.getContext("2d").getImageData(0, 0, s.width, s.height).data;
            let lo = 255, hi = 0;
            for (let i = 1; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
            return [s.width, hi - lo];
        })"""
    )
    for width, spread in spreads:
        assert width > 40 and spread > 60, spreads


def open_footage(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/ui/")
    page.get_by_test_id("tab-footage").click()
    expect(page.get_by_test_id("footage-form")).to_be_visible()
    expect(page.get_by_test_id("gallery")).to_be_hidden()


def submit_footage(page: Page, camera: str, action: str, threshold: str = "") -> None:
    page.get_by_test_id("footage-camera").fill(camera)
    page.get_by_test_id("footage-action").select_option(action)
    if threshold:
        page.get_by_test_id("footage-options").locator("summary").click()
        page.get_by_test_id("footage-threshold").fill(threshold)
    page.get_by_test_id("footage-submit").click()


def test_footage_with_a_tracker_file_draws_each_person_and_lists_them(
    serve: ServerFactory, watched: Watched, tmp_path: Path
) -> None:
    """Camera `gate` enrolls the clip's people (the page asks for the write key); the same clip as
    camera `lobby` then takes their global ids: boxes and ids drawn on the clip in sync with its
    time, the people listed with strips cut from it, and a click shows one of them."""
    server = serve(api_key=KEY, protect_reads=False)
    clip = webm_of(VTEST, tmp_path / "vtest.webm")
    tracker = tmp_path / "vtest.txt"
    shutil.copyfile(VTEST_MOT, tracker)
    boxes = mot_boxes(VTEST_MOT.read_text())
    page = watched.page
    open_footage(page, server)
    page.get_by_test_id("clip-input").set_input_files(str(clip))
    page.get_by_test_id("tracker-input").set_input_files(str(tracker))
    expect(page.get_by_test_id("footage-selection")).to_contain_text("boxes from vtest.txt")

    submit_footage(page, "gate", "enroll")
    give_key_when_asked(page)
    people = page.get_by_test_id("person")
    expect(people).to_have_count(4)  # track 3 has 2 boxes: skipped, and said so
    assert people.evaluate_all("els => els.map(e => e.dataset.id)") == [
        "gate:1",
        "gate:2",
        "gate:4",
        "gate:5",
    ]
    expect(page.get_by_test_id("people-summary")).to_contain_text("track 3: 2 usable boxes of the 3 needed")
    expect(people.first.get_by_test_id("outcome")).to_have_text("new: enrolled as gate:1")
    expect(people.first.get_by_test_id("seen-here")).to_contain_text(
        "camera gate · 0.1 s – 1.1 s into the clip"
    )
    strips_cut(page, 4)
    # the tracklet view's gallery follows
    expect(page.get_by_test_id("gallery-page-info")).to_have_text("1–4 of 4")

    # the same people on another camera: each track takes its gate id (same crops: similarity 1)
    submit_footage(page, "lobby", "match-or-enroll", threshold="0.99")
    expect(page.get_by_test_id("footage-summary")).to_contain_text("match-or-enroll on camera lobby")
    assert people.evaluate_all("els => els.map(e => e.dataset.id)") == [
        "gate:1",
        "gate:2",
        "gate:4",
        "gate:5",
    ]
    expect(people.first.get_by_test_id("outcome")).to_have_text("matched gate:1 · similarity 1.000")
    strips_cut(page, 4)

    # a click shows the person: the clip goes to their first frame, their box drawn thick
    people.nth(0).click()
    expect(people.nth(0)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("frame-info")).to_contain_text("frame 2 of 12")
    detail = page.get_by_test_id("person-detail")
    expect(page.get_by_test_id("detail-title")).to_have_text("gate:1")
    entry = detail.get_by_test_id("detail-entry")
    expect(entry).to_have_count(1)
    expect(entry).to_have_attribute("data-id", "gate:1")
    expect(entry).to_contain_text("camera gate")
    expect(entry).to_contain_text("similarity 1.000")
    expect(entry).to_contain_text("0.1 – 1.1 s into its clip")
    thumbnails_loaded(page, "detail-gallery")

    colour = swatch_rgb(page, "gate:1")
    assert len(set(swatch_rgb(page, p) for p in ("gate:1", "gate:2", "gate:4", "gate:5"))) == 4
    x, y, w, h = boxes[2][1]
    assert overlay_pixel(page, x, y + h / 2) == (*colour, 255)  # its left edge, in its colour
    assert overlay_pixel(page, x - 3, y + h / 2) == (*colour, 255)  # thick: chosen
    assert overlay_pixel(page, x + w / 2, y + h / 2)[3] == 0  # the person shows through
    x2, y2, _, h2 = boxes[2][2]
    other = overlay_pixel(page, x2, y2 + h2 / 2)
    assert 90 < other[3] < 140, other  # someone else: thin and faint
    assert overlay_pixel(page, x2 - 3, y2 + h2 / 2)[3] == 0

    # "show everyone", then scrub to the last frame: the boxes follow the clip
    page.get_by_test_id("show-all").click()
    page.get_by_test_id("footage-video").evaluate("v => { v.currentTime = 11.5 / 10; }")
    expect(page.get_by_test_id("frame-info")).to_contain_text("frame 12 of 12")
    for track, person in ((1, "gate:1"), (2, "gate:2")):
        x, y, w, h = boxes[12][track]
        assert overlay_pixel(page, x, y + h / 2) == (*swatch_rgb(page, person), 255), track
    x, y, _, h = boxes[2][1]
    assert boxes[12][1][0] - x > 30  # they walked: nothing is left where they stood at frame 2
    assert overlay_pixel(page, x, y + h / 2)[3] == 0

    # match only: people by track, each with the gallery's best, most similar first
    submit_footage(page, "hall", "match")
    expect(page.get_by_test_id("footage-summary")).to_contain_text("match on camera hall")
    expect(people).to_have_count(4)
    expect(people.first).to_have_attribute("data-id", "track 1")
    expect(people.first.get_by_test_id("outcome")).to_have_text("best match gate:1 · similarity 1.000")
    people.nth(1).click()
    expect(page.get_by_test_id("detail-title")).to_have_text("track 2")
    expect(detail.get_by_test_id("detail-entry").first).to_have_attribute("data-id", "gate:2")
    expect(detail.get_by_test_id("detail-entry").first).to_contain_text("#1 · similarity 1.000")
    save_screenshot(page, tmp_path, "ui-footage-tracker-file.png")
    assert watched.foreign_requests(server) == []
    assert [e for e in watched.errors if "401" not in e] == []


def test_a_clip_the_browser_cannot_play_still_lists_its_people(
    serve: ServerFactory, watched: Watched, tmp_path: Path
) -> None:
    """MPEG-4 part 2 (OpenCV's mp4v): the service reads it, Chromium does not play it. The page says
    so and lists the people without boxes or strips."""
    server = serve()
    tracker = tmp_path / "vtest.txt"
    shutil.copyfile(VTEST_MOT, tracker)
    page = watched.page
    open_footage(page, server)
    page.get_by_test_id("clip-input").set_input_files(str(VTEST))
    page.get_by_test_id("tracker-input").set_input_files(str(tracker))
    expect(page.get_by_test_id("footage-selection")).to_contain_text("this browser cannot play the clip")
    submit_footage(page, "gate", "embed")
    people = page.get_by_test_id("person")
    expect(people).to_have_count(4)
    expect(people.first.get_by_test_id("outcome")).to_have_text("embedded, not compared")
    expect(page.get_by_test_id("footage-summary")).to_contain_text("embed on camera gate")
    expect(people.first.get_by_test_id("strip")).to_have_class("strip placeholder")
    people.first.click()
    expect(page.get_by_test_id("detail-gallery-note")).to_have_text(
        "Not compared with the gallery (action embed)."
    )
    assert watched.foreign_requests(server) == []


def ping_pong(frames: int, length: int = 12) -> list[int]:
    """Frame indices 0..11, 10..1, 0..11...: the twelve real frames played back and forth, `frames`
    long (the people walk to and fro: a longer clip for the detector, of real people)."""
    cycle = list(range(length)) + list(range(length - 2, 0, -1))
    return [cycle[i % len(cycle)] for i in range(frames)]


def record_progress(page: Page) -> None:
    """Keep every text the progress line shows (it changes about twice a second, then hides)."""
    page.evaluate(
        """() => {
            window.progressSeen = [];
            const line = document.querySelector('[data-testid="footage-progress"]');
            new MutationObserver(() => window.progressSeen.push(line.innerText))
                .observe(line, { subtree: true, childList: true, characterData: true });
        }"""
    )


def test_footage_alone_is_detected_tracked_and_drawn_with_its_progress(
    serve: ServerFactory, watched: Watched, tmp_path: Path
) -> None:
    """No tracker file: the service finds the people, the page shows its progress as it streams, then
    draws the boxes of the tracker file the service made under the ids it enrolled."""
    server = serve()
    clip = webm_of(VTEST, tmp_path / "vtest-pingpong.webm", ping_pong(60))
    page = watched.page
    open_footage(page, server)
    page.get_by_test_id("clip-input").set_input_files(str(clip))
    expect(page.get_by_test_id("footage-selection")).to_contain_text("the service finds the people itself")
    record_progress(page)
    submit_footage(page, "gate", "enroll")
    people = page.get_by_test_id("person")
    expect(page.get_by_test_id("status")).to_contain_text("people in vtest-pingpong.webm", timeout=60_000)
    expect(page.get_by_test_id("footage-progress")).to_be_hidden()
    seen = page.evaluate("window.progressSeen")
    tracking = [t for t in seen if t.startswith("Finding and tracking people: frame")]
    assert tracking and all(" people" in t or " person" in t for t in tracking), seen
    expect(page.get_by_test_id("footage-summary")).to_contain_text("found by pedestrian-detection-adas-0002")

    # the very boxes the service found: the same clip again, its tracker file asked for
    with server.client() as client:
        response = client.post(
            "/tracks",
            files={"video": (clip.name, clip.read_bytes(), "video/webm")},
            data={"camera": "check", "action": "embed", "tracker_output": "true"},
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    boxes = mot_boxes(answer["tracker_file"])
    used = [t for t in answer["tracks"] if t["skipped"] is None]
    assert len(used) >= 4
    ids = [f"gate:{t['track_id']}" for t in used]
    expect(people).to_have_count(len(used))
    assert people.evaluate_all("els => els.map(e => e.dataset.id)") == ids
    strips_cut(page, len(used))

    first = used[0]
    people.first.click()
    expect(page.get_by_test_id("frame-info")).to_contain_text(f"frame {first['first_frame']} of 60")
    x, y, _, h = boxes[first["first_frame"]][first["track_id"]]
    colour = swatch_rgb(page, ids[0])
    assert overlay_pixel(page, x, y + h / 2) == (*colour, 255)
    assert overlay_pixel(page, x - 3, y + h / 2) == (*colour, 255)
    expect(page.get_by_test_id("detail-gallery").get_by_test_id("detail-entry")).to_have_attribute(
        "data-id", ids[0]
    )
    assert watched.foreign_requests(server) == []
    assert watched.errors == []


def test_cancel_stops_the_work_and_stores_nobody(
    serve: ServerFactory, watched: Watched, tmp_path: Path
) -> None:
    server = serve()
    clip = webm_of(VTEST, tmp_path / "vtest-long.webm", ping_pong(600))
    page = watched.page
    open_footage(page, server)
    page.get_by_test_id("clip-input").set_input_files(str(clip))
    submit_footage(page, "gate", "enroll")
    progress = page.get_by_test_id("footage-progress")
    expect(progress).to_contain_text("Finding and tracking people: frame", timeout=30_000)
    expect(page.get_by_test_id("footage-cancel")).to_be_visible()
    page.get_by_test_id("footage-cancel").click()
    expect(page.get_by_test_id("status")).to_have_text(
        "Cancelled: the service stopped the work; nothing was stored."
    )
    expect(progress).to_be_hidden()
    expect(page.get_by_test_id("footage-cancel")).to_be_hidden()
    expect(page.get_by_test_id("footage-submit")).to_be_enabled()
    expect(page.get_by_test_id("person")).to_have_count(0)
    time.sleep(1.0)
    with server.client() as client:
        assert client.get("/gallery").json()["total"] == 0
    assert watched.errors == []
