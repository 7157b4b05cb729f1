"""The built-in page in a real browser: Debian's headless Chromium driven by Playwright, against the
service on 127.0.0.1 (uvicorn in a thread).

Skipped, with the reason, where /usr/bin/chromium or the playwright package is missing
(`scripts/test.sh` installs Debian's chromium; Playwright's own browser download is never used).
Screenshots are test artefacts: under the test's tmp_path, and under $REID_ARTIFACTS when set.
`REID_UPDATE_DOCS_SCREENSHOT=1` also rewrites docs/ui.png, from synthetic people only: CUHK03's
terms forbid publishing its images, so the CUHK03 screenshot never leaves the artefacts.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
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
