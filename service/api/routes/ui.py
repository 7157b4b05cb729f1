"""The built-in page: `service/static` served at /ui/ (GET / redirects there), with strict headers.

Everything the page loads comes from the service itself (no CDN, no inline script or style), so the
Content-Security-Policy can forbid every other origin; thumbnails are shown from `blob:` URLs of
authenticated fetches, and frame previews and the footage view's clip from `blob:` URLs of the
user's own files (`img-src` and `media-src`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; "
        "script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307, headers=SECURITY_HEADERS)


class SecuredStaticFiles(StaticFiles):
    """StaticFiles whose every answer (files, 304s, the /ui -> /ui/ redirect) carries the headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        # The page changes with the service: revalidate (cheap, ETag/304) rather than serve it stale.
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def install(app: FastAPI) -> None:
    """Serve the page: GET / -> /ui/, and the static folder under /ui."""
    app.include_router(router)
    app.mount("/ui", SecuredStaticFiles(directory=STATIC_DIR, html=True), name="ui")
