"""The page's tests use the live servers of tests/service/api: its `serve` fixture, shared, not copied.

`pytest_plugins` is only honoured in the top-level conftest, and that folder's conftest is imported
under the plain name `conftest`, so it is loaded here once more under a name of its own.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

API_TESTS = Path(__file__).resolve().parents[1] / "api"
if str(API_TESTS) not in sys.path:
    sys.path.insert(0, str(API_TESTS))  # `live_server`, as the api tests import it

_spec = importlib.util.spec_from_file_location("api_live_fixtures", API_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api_fixtures)

serve = _api_fixtures.serve
