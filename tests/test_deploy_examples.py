"""The deployment examples in infra/deploy/ stay valid: the cameras file loads with the
project's config loader, every env file holds only settings Vigil reads (and valid values),
and every systemd unit and compose service starts a command the `vigil` CLI accepts.

Nothing is deployed here: the examples are checked the way the processes would read them.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from vigil.cli.main import build_parser
from vigil.groups.service import URI_ENV as GROUPS_URI_ENV
from vigil.history.crops import CROPS_ENV
from vigil.history.service import URI_ENV as HISTORY_URI_ENV
from vigil.infra.config import load_config
from vigil.infra.retention import RETENTION_ENV
from vigil.infra.settings import ENV_PREFIX, Settings
from vigil.schemas.camera import PipelineConfig

DEPLOY = Path(__file__).resolve().parents[1] / "infra" / "deploy"
ENV_DIR = DEPLOY / "env"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
# Read outside Settings: by the group / history services, the logger, the webhook sink.
OTHER_VARIABLES = {
    GROUPS_URI_ENV,
    HISTORY_URI_ENV,
    CROPS_ENV,
    RETENTION_ENV,
    "VIGIL_LOG_FORMAT",
    "VIGIL_ALERT_SECRET",
}
CONFIG_ON_HOST = "/etc/vigil/cameras.yaml"


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, separator, value = line.partition("=")
            assert separator, f"{path.name}: not NAME=VALUE: {line!r}"
            values[name.strip()] = value.strip()
    return values


def read_unit(path: Path) -> dict[str, list[str]]:
    """systemd's INI dialect: repeated keys (EnvironmentFile=) accumulate."""
    entries: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        name, separator, value = line.partition("=")
        assert separator, f"{path.name}: not Key=Value: {line!r}"
        entries.setdefault(f"{section}.{name}", []).append(value)
    return entries


def assert_cli_accepts(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)  # exits (fails the test) on a bad command line
    config = getattr(args, "config", None)
    if config is not None:
        assert str(config) == CONFIG_ON_HOST, "every role reads the shared cameras file"


def example_config() -> PipelineConfig:
    return load_config(DEPLOY / "cameras.yaml")


def test_cameras_example_loads_with_the_config_loader() -> None:
    config = example_config()
    assert len(config.cameras) >= 2
    assert {w.group for w in config.watchlists} == {"wanted"}
    assert config.history is not None and config.history.uri is None, "URI from the env files"
    assert config.outputs.alerts.webhook is not None
    assert config.outputs.alerts.webhook.secret_env in OTHER_VARIABLES
    assert len(set(config.topics.model_dump().values())) == 4


@pytest.mark.parametrize("path", sorted(ENV_DIR.glob("*.env*")), ids=lambda p: p.name)
def test_env_files_hold_only_settings_vigil_reads(path: Path) -> None:
    values = read_env(path)
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    assert values, f"{path.name} is empty"
    assert set(values) <= known, f"unknown: {sorted(set(values) - known)}"


@pytest.mark.parametrize("role", ["worker", "ingest", "capture", "sink", "alarm", "history"])
def test_each_role_environment_is_valid_settings(role: str) -> None:
    environ = {**read_env(ENV_DIR / "common.env"), **read_env(ENV_DIR / f"{role}.env")}
    environ.update(read_env(ENV_DIR / "secrets.env.example"))
    settings = Settings.from_env(environ)
    assert settings.bus == "kafka" and not settings.eager
    assert len(settings.kafka_bootstrap.split(",")) == 3, "a three-broker Kafka cluster"
    assert settings.kafka_security()["sasl_plain_password"] == "change-me"


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_start_a_command_the_cli_accepts(unit: Path) -> None:
    entries = read_unit(unit)
    (command,) = entries["Service.ExecStart"]
    argv = shlex.split(command.replace("%i", "1"))
    assert argv[0] == "/opt/vigil/bin/vigil"
    assert_cli_accepts(argv[1:])
    files = [f.lstrip("-") for f in entries["Service.EnvironmentFile"]]
    assert files[0] == "/etc/vigil/common.env"
    for file in files:
        name = Path(file).name
        shipped = ENV_DIR / (f"{name}.example" if name == "secrets.env" else name)
        assert shipped.is_file(), f"{unit.name} loads {file}, which infra/deploy/env lacks"
    assert entries["Service.Restart"] == ["always"]
    assert entries["Install.WantedBy"] == ["multi-user.target"]


def test_compose_services_run_the_cli_on_the_shared_files() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "redis", "milvus"} <= set(services)
    roles = {name: s for name, s in services.items() if s.get("image") == "python:3.11-slim"}
    assert set(roles) == {"worker", "ingest", "capture", "sink", "alarm", "history"}
    for name, service in roles.items():
        install, _, run = service["command"][-1].partition(" && exec ")
        assert install.startswith("pip install"), name
        assert_cli_accepts(shlex.split(run)[1:])
        for env_file in service["env_file"]:
            settings = Settings.from_env(read_env(DEPLOY / env_file))
            assert settings.kafka_bootstrap == "kafka:9092"
        source = service["volumes"][0].split(":")[0]
        assert (DEPLOY / source).resolve() == DEPLOY / "cameras.yaml"
    assert services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] == "4"
