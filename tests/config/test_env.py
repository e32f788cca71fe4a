from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def test_env_bool_accepts_common_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False


def test_env_bool_blank_uses_default(monkeypatch):
    monkeypatch.setenv("FLAG", " ")
    assert env_bool("FLAG", True) is True


def test_env_bool_rejects_other_values(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", False)


def test_env_int_rejects_text(monkeypatch):
    monkeypatch.setenv("LIMIT", "ten")
    with pytest.raises(ImproperlyConfigured, match="LIMIT='ten' is not a whole number"):
        env_int("LIMIT", 1)


def test_env_int_enforces_bounds(monkeypatch):
    monkeypatch.setenv("LIMIT", "0")
    with pytest.raises(ImproperlyConfigured, match="LIMIT=0 is below the minimum of 1"):
        env_int("LIMIT", 5, minimum=1)
    monkeypatch.setenv("LIMIT", "99")
    with pytest.raises(ImproperlyConfigured, match="LIMIT=99 is above the maximum of 20"):
        env_int("LIMIT", 5, maximum=20)


def test_env_list_drops_blanks(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, ,b.example,")
    assert env_list("HOSTS") == ["a.example", "b.example"]


def test_env_choice_rejects_unknown(monkeypatch):
    monkeypatch.setenv("PARTITION", "aws-mars")
    with pytest.raises(ImproperlyConfigured, match="PARTITION='aws-mars' is not one of: aws, aws-cn"):
        env_choice("PARTITION", "aws", ("aws", "aws-cn"))


def _settings_error(**env: str) -> str:
    """Import the settings in a fresh interpreter with `env`; return what it printed on failure."""
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "x" * 40}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
    )
    return result.stderr


def test_settings_reject_bad_scan_limit():
    assert "SCAN_TIME_LIMIT='soon' is not a whole number" in _settings_error(SCAN_TIME_LIMIT="soon")


def test_settings_reject_hard_limit_below_soft():
    error = _settings_error(SCAN_SOFT_TIME_LIMIT="600", SCAN_TIME_LIMIT="300")
    assert "SCAN_TIME_LIMIT=300 must be greater than SCAN_SOFT_TIME_LIMIT=600" in error


def test_settings_require_secret_key_without_debug():
    error = _settings_error(DJANGO_SECRET_KEY="")
    assert "DJANGO_SECRET_KEY is empty" in error


def test_settings_reject_non_http_endpoint():
    assert "AWS_ENDPOINT_URL='ftp://x' is not an http(s) URL" in _settings_error(AWS_ENDPOINT_URL="ftp://x")


def test_settings_reject_bad_database_url():
    assert "DATABASE_URL is not a valid database URL" in _settings_error(DATABASE_URL="nosuchdb://x")


def test_settings_reject_non_redis_cache_url():
    assert "CACHE_URL='memcached://x' is not a Redis URL" in _settings_error(CACHE_URL="memcached://x")


def test_settings_use_redis_cache_url():
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.CACHES['default']['BACKEND'])"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "x" * 40, "CACHE_URL": "redis://127.0.0.1:6379/2"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


def test_settings_load_with_valid_values():
    assert _settings_error() == ""
