"""Schemathesis on the service's own OpenAPI document, against a live uvicorn server: for every
operation, requests generated from the schema (valid ones and, in negative mode, invalid ones) never
get a 5xx, and every answer is one the schema documents (status, content type, body).

Bounded: EXAMPLES per operation and mode, 10 s per example, a fixed seed (derandomized, so a failure
reproduces), no example database. The API key is configured and sent, so the write endpoints run
past the key check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from devtools.harness import LiveServer
from devtools.synthetic import frames_files, person_frames
from service.core.config import Settings
from service.main import create_app

API_KEY = "schemathesis-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Per operation and mode; SCHEMATHESIS_EXAMPLES=500 for a deeper hunt outside the suite.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "30"))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

# The operations, read from the application's schema at collection time; the test compares it with
# the one the live server serves.
_DOCUMENT = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
# Negative mode needs something to make invalid: operations without parameters or body get none.
RUNS = [
    pytest.param(f"{method.upper()} {path}", mode, id=f"{method.upper()} {path} {mode.value}")
    for path, methods in _DOCUMENT["paths"].items()
    for method, spec in methods.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or spec.get("parameters") or spec.get("requestBody")
]


@pytest.fixture(scope="module")
def live(tiny_model_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        model_path=tiny_model_path,
        intra_op_threads=1,
        redis_url=None,
        api_key=API_KEY,
        rate_limit_per_minute=0,  # hundreds of requests from one address, on purpose
        max_frames=64,  # generated uploads are small anyway; keeps a worst case cheap
    )
    server = LiveServer(settings).start()
    # A few entries (from real uploads, so with thumbnails), so that reads answer with data too; the
    # short ids are ones Hypothesis tends to generate.
    with server.client(headers=AUTH) as client:
        for seed, entry_id in enumerate(("0", "A", "person-1")):
            data = {"id": entry_id, "camera": "B", "label": "seed", "tags": '{"zone": "north"}'}
            response = client.post("/gallery", files=frames_files(person_frames(seed, 3)), data=data)
            assert response.status_code == 201, response.text
    yield server
    server.stop()


@pytest.fixture(scope="module")
def schema(live: LiveServer) -> schemathesis.schemas.BaseSchema:
    with live.client() as client:
        served = client.get("/openapi.json").json()
    assert served == _DOCUMENT
    loaded = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    loaded.config.update(base_url=live.url)
    return loaded


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_no_server_error_and_every_answer_matches_the_schema(
    schema: schemathesis.schemas.BaseSchema, live: LiveServer, label: str, mode: GenerationMode
) -> None:
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=timedelta(seconds=10),  # per example; a generous bound on a shared 2-core machine
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=live.url, headers=AUTH, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=AUTH)

    run()
