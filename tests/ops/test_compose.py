"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading: it
parses, every command exists in the project, every variable is a setting, ports do not clash."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
SETTING_VARS = {f"NUDGE_{name.upper()}" for name in Settings.model_fields}


def _nudge_command(argv: list[str]) -> None:
    """Parse ``nudge sub [--options]`` with the real CLI: an unknown command or option fails."""
    assert argv[0] == "nudge", argv
    result = CliRunner().invoke(cli, [*argv[1:], "--help"])
    assert result.exit_code == 0, f"{shlex.join(argv)}: {result.output}"


def test_expected_services() -> None:
    assert set(SERVICES) == {"postgres", "redis", "migrate", "api", "worker", "beat", "mailpit"}
    assert "pgdata" in COMPOSE["volumes"]
    assert any("pgdata:" in v for v in SERVICES["postgres"]["volumes"])


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if s.get("build")])
def test_commands_exist(name: str) -> None:
    argv = SERVICES[name]["command"]
    if argv[0] == "alembic":
        config = argv[argv.index("-c") + 1]
        assert (ROOT / config).is_file()
        assert argv[-2:] == ["upgrade", "head"]
    else:
        _nudge_command(argv)


def test_dockerfile_command_exists() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    line = next(text for text in lines if text.startswith("CMD "))
    _nudge_command(yaml.safe_load(line.removeprefix("CMD ")))


def test_every_variable_is_a_setting() -> None:
    for name, service in SERVICES.items():
        for var in service.get("environment") or {}:
            if var.startswith("NUDGE_"):
                assert var in SETTING_VARS, f"{name} sets {var}, which no setting reads"
    # Optional settings are documented commented out ("# NUDGE_X=example").
    example = set(re.findall(r"^(?:# )?(NUDGE_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert example == SETTING_VARS, "every setting is in .env.example and nothing else"


def test_host_ports_do_not_clash() -> None:
    published = [
        str(port).split(":")[0] for service in SERVICES.values() for port in service.get("ports", [])
    ]
    assert len(published) == len(set(published)), published


def test_dependencies_are_healthy_or_complete() -> None:
    for name, service in SERVICES.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} needs a health check"
            else:
                assert condition == "service_completed_successfully" and target == "migrate"
    for app_service in ("api", "worker", "beat"):
        assert SERVICES[app_service]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_exactly_one_beat_and_secret_required() -> None:
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    raw = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"NUDGE_SECRET_KEY: \$\{NUDGE_SECRET_KEY:\?", raw), "the secret must be required"
    assert shlex.split("nudge beat") == SERVICES["beat"]["command"]


def test_every_setting_is_documented() -> None:
    documented = set(
        re.findall(r"^\| `(NUDGE_[A-Z_]+)`", (ROOT / "docs/operations.md").read_text(), re.MULTILINE)
    )
    assert documented == SETTING_VARS, "the settings table of docs/operations.md lists every setting"


def test_app_services_read_env_file_and_several_api_processes() -> None:
    for name in ("migrate", "api", "worker", "beat"):
        assert SERVICES[name]["build"] == ".", name
        assert [f["path"] for f in SERVICES[name]["env_file"]] == [".env"], name
    api = SERVICES["api"]["command"]
    assert int(api[api.index("--workers") + 1]) > 1
    assert SERVICES["migrate"]["restart"] == "no"


def test_health_checks_fit_each_service() -> None:
    """The image's own check probes the API on :8000; every other service from the image
    brings its own or disables it, or it would be reported unhealthy forever."""
    assert "/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    port = SERVICES["worker"]["environment"]["NUDGE_WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert str(port) in SERVICES["worker"]["expose"]
    for name in ("migrate", "beat"):
        assert SERVICES[name]["healthcheck"] == {"disable": True}, name
    for name in ("postgres", "redis", "mailpit"):
        assert SERVICES[name]["healthcheck"]["test"], name


def test_smtp_catcher_has_a_web_ui() -> None:
    ports = {str(p).split(":")[1].split("/")[0] for p in SERVICES["mailpit"]["ports"]}
    assert {"8025", "1025"} <= ports  # web UI and SMTP


def test_dockerfile_is_slim_pinned_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(stages) >= 2, "multi-stage"
    assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", s.split(" ")[0]) for s in stages), stages
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
