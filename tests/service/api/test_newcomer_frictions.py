"""What a new user trips on first (issue 39): /docs on a host without internet, the body limit's
refusal naming its setting, a missing choice listing its values."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from pydantic import ValidationError

from devtools.harness import LiveServer, ServerFactory
from service.api.requests import describe
from service.schemas import TracksOptions


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_every_file_from_the_service_itself(server: LiveServer, page: str) -> None:
    with server.client() as client:
        html = client.get(page)
        assert html.status_code == 200, html.text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: *["']([^"']+)["']""", html.text)
        urls = [a or b for a, b in urls]
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            assert not urlparse(url).netloc, f"{page} loads {url} from another host"
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert answer.content, url


def test_the_openapi_page_of_swagger_ui_is_served(server: LiveServer) -> None:
    with server.client() as client:
        html = client.get("/docs").text
        assert "/docs-assets/swagger-ui-bundle.js" in html and "/openapi.json" in html
        assert client.get("/docs/oauth2-redirect").status_code == 200


def test_a_body_over_the_limit_names_the_setting_and_its_value(serve: ServerFactory) -> None:
    server = serve(max_upload_bytes=4096)
    with server.client() as client:
        answer = client.post(
            "/embed", content=b"x" * (2 << 20), headers={"content-type": "multipart/form-data; boundary=b"}
        )
    assert answer.status_code == 413
    message = answer.json()["error"]["message"]
    assert "REID_MAX_UPLOAD_BYTES=4096" in message, message


def test_a_missing_choice_lists_its_values() -> None:
    with pytest.raises(ValidationError) as caught:
        TracksOptions.model_validate({"camera": "camA"})
    message = describe(caught.value, TracksOptions)
    assert message.startswith("action: ")
    for choice in ("embed", "enroll", "match", "match-or-enroll"):
        assert choice in message
