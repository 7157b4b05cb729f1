"""Settings come from REID_* variables only, read once; lists accept JSON or commas."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.core.config import DEFAULT_MODEL, Settings


def test_defaults_are_the_quick_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REID_REDIS_URL", "REID_API_KEY", "REID_MODEL_PATH", "REID_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.port == 8000 and settings.redis_url is None and settings.api_key is None
    assert settings.model_path == DEFAULT_MODEL and DEFAULT_MODEL.is_file()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REID_PORT", "9001")
    monkeypatch.setenv("REID_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("REID_API_KEY", "s3cret-key")
    monkeypatch.setenv("REID_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    monkeypatch.setenv("REID_CORS_ORIGINS", '["https://a.example"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.port == 9001 and settings.redis_url == "redis://cache:6379/0"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret-key"
    assert "s3cret-key" not in repr(settings)  # the key never reaches a log through the settings
    assert settings.providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert settings.cors_origins == ["https://a.example"]


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REID_PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REID_API_KEY", "")
    monkeypatch.setenv("REID_REDIS_URL", " ")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_key is None and settings.redis_url is None


def test_every_setting_is_documented_in_the_api_reference_and_the_env_example() -> None:
    """A setting nobody can find is a setting nobody can use: each REID_* name appears in both."""
    root = Path(__file__).resolve().parents[3]
    readme, example = (root / "docs" / "api.md").read_text(), (root / ".env.example").read_text()
    names = [f"REID_{field.upper()}" for field in Settings.model_fields]
    assert [n for n in names if n not in readme] == []
    assert [n for n in names if n not in example] == []
