"""Settings come from NUDGE_* variables and refuse nonsense at start-up."""

from __future__ import annotations

import os
import stat

import pytest
from pydantic import ValidationError

from app.kit.settings import Settings

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("NUDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_default_is_embedded_sqlite_with_an_in_process_worker():
    settings = Settings()
    assert settings.is_sqlite and settings.database_url.endswith(".nudge/nudge.db")
    assert settings.in_process_worker and settings.broker_url is None
    assert settings.secret_key is None


def test_values_come_from_nudge_variables(monkeypatch):
    monkeypatch.setenv("NUDGE_DATABASE_URL", "postgresql://nudge@db.internal:5432/nudge")
    monkeypatch.setenv("NUDGE_SECRET_KEY", SECRET)
    monkeypatch.setenv("NUDGE_BROKER_URL", "redis://cache:6379/2")
    monkeypatch.setenv("NUDGE_DEFAULT_TIMEZONE", "Asia/Kathmandu")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://nudge@db.internal:5432/nudge"
    assert settings.secret_key.get_secret_value() == SECRET
    assert (settings.broker_url, settings.in_process_worker) == ("redis://cache:6379/2", False)
    assert settings.default_timezone == "Asia/Kathmandu"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p%40ss@h/db",
        "postgresql+psycopg://u@h:5433/db",
        "postgres://u@h/db",
        "sqlite:///relative.db",
        "sqlite:////absolute/path.db",
    ],
)
def test_database_urls_that_work(url):
    settings = Settings(database_url=url, secret_key=SECRET)
    assert settings.database_url.startswith(("postgresql+psycopg://", "sqlite:///"))
    if "p%40ss" in url:
        assert "p%40ss" in settings.database_url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "mysql://u@h/db",
        "sqlitex:///x.db",
        "postgresql+psycopg2://u@h/db",
        "postgresql+asyncpg://u@h/db",
        "http://db.internal/nudge",
        "sqlite+aiosqlite:///x.db",
    ],
)
def test_database_urls_that_cannot_work_are_refused(url):
    with pytest.raises(ValidationError, match="NUDGE_DATABASE_URL"):
        Settings(database_url=url, secret_key=SECRET)


@pytest.mark.parametrize("url", ["http://cache:6379", "cache:6379", "sqs://queue"])
def test_broker_urls_that_cannot_work_are_refused(url):
    with pytest.raises(ValidationError, match="NUDGE_BROKER_URL"):
        Settings(broker_url=url)


def test_an_empty_broker_url_means_in_process():
    assert Settings(broker_url="").in_process_worker


def test_postgres_needs_a_secret_key():
    with pytest.raises(ValidationError, match="NUDGE_SECRET_KEY is required"):
        Settings(database_url="postgresql://u@h/db")


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_a_short_secret_key_is_refused(secret):
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(database_url="postgresql://u@h/db", secret_key=secret)


@pytest.mark.parametrize("zone", ["Mars/Base", "GMT+2", "utc ", "../../etc/passwd", ""])
def test_a_default_zone_that_is_not_iana_is_refused(zone):
    with pytest.raises(ValidationError, match="IANA"):
        Settings(default_timezone=zone)


@pytest.mark.parametrize("role", ["nudge-app", 'x"; DROP TABLE users; --', "has space", "a.b"])
def test_a_role_name_that_is_not_a_plain_identifier_is_refused(role):
    with pytest.raises(ValidationError, match="NUDGE_DATABASE_ROLE"):
        Settings(database_role=role)


def test_an_empty_role_means_no_switch():
    assert Settings(database_role="").database_role == ""


@pytest.mark.parametrize(
    "overrides",
    [
        {"public_base_url": "not a url"},
        {"public_base_url": "ftp://example.com"},
        {"database_pool_size": 0},
        {"max_body_bytes": 10},
        {"statement_timeout_ms": 5},
        {"log_level": "loud"},
    ],
)
def test_other_nonsense_is_refused(overrides):
    with pytest.raises(ValidationError):
        Settings(**overrides)


def test_embedded_mode_generates_the_secret_key_once_and_keeps_it(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'nudge.db'}")
    key = settings.signing_key()
    assert len(key) >= 32
    assert Settings(database_url=settings.database_url).signing_key() == key
    (key_file,) = (tmp_path / "data").glob("secret_key")
    assert key_file.read_bytes().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_the_embedded_secret_key_lives_beside_the_database_not_the_working_folder(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'data' / 'nudge.db'}"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.chdir(tmp_path / "one")
    key = Settings(database_url=url).signing_key()
    monkeypatch.chdir(tmp_path / "two")
    assert Settings(database_url=url).signing_key() == key


def test_a_configured_secret_key_is_used_as_is(tmp_path):
    assert Settings(secret_key=SECRET).signing_key() == SECRET.encode()
    assert not any(tmp_path.rglob("secret_key"))
