"""Secrets: Kafka SASL/TLS, the Redis password and the webhook secret reach the clients
that need them, and never a log line, a repr or a settings dump."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from vigil.infra.bus.factory import bus_from_settings
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.celery_app import create_app
from vigil.infra.logs import configure_logging, redact
from vigil.infra.settings import Settings
from vigil.outputs.sink_worker import SinkWorker
from vigil.schemas.camera import PipelineConfig

SASL_PASSWORD = "sasl-pa55-word"
KEY_PASSWORD = "key-pa55-word"
REDIS_PASSWORD = "redis-pa55-word"
WEBHOOK_SECRET = "hmac-s3cret-value"
SECRETS = (SASL_PASSWORD, KEY_PASSWORD, REDIS_PASSWORD, WEBHOOK_SECRET)

SECURE_ENV = {
    "VIGIL_BUS": "kafka",
    "VIGIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "VIGIL_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "VIGIL_KAFKA_SASL_USERNAME": "vigil",
    "VIGIL_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
    "VIGIL_KAFKA_SSL_CAFILE": "/etc/vigil/ca.pem",
    "VIGIL_KAFKA_SSL_CERTFILE": "/etc/vigil/client.pem",
    "VIGIL_KAFKA_SSL_KEYFILE": "/etc/vigil/client.key",
    "VIGIL_KAFKA_SSL_PASSWORD": KEY_PASSWORD,
    "VIGIL_CELERY_BROKER": f"redis://:{REDIS_PASSWORD}@10.0.0.7:6379/0",
    "VIGIL_CELERY_BACKEND": f"redis://default:{REDIS_PASSWORD}@10.0.0.7:6379/1",
}


def assert_no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"secrets {leaked} in: {text[:2000]}"


def test_kafka_sasl_and_tls_settings_reach_the_kafka_clients():
    settings = Settings.from_env(SECURE_ENV)
    bus = bus_from_settings(settings)
    assert isinstance(bus, KafkaBus)
    assert bus.security == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "vigil",
        "sasl_plain_password": SASL_PASSWORD,
        "ssl_cafile": "/etc/vigil/ca.pem",
        "ssl_certfile": "/etc/vigil/client.pem",
        "ssl_keyfile": "/etc/vigil/client.key",
        "ssl_password": KEY_PASSWORD,
    }
    assert bus.common().items() >= bus.security.items(), "every client is built from common()"


def test_plaintext_defaults_pass_no_security_options():
    assert Settings().kafka_security() == {"security_protocol": "PLAINTEXT"}


def test_the_redis_password_reaches_celery_but_no_printed_form_of_the_settings():
    settings = Settings.from_env({**SECURE_ENV, "VIGIL_CELERY_EAGER": "true"})
    app = create_app(settings)
    assert app.conf.broker_url == SECURE_ENV["VIGIL_CELERY_BROKER"]
    assert app.conf.result_backend == SECURE_ENV["VIGIL_CELERY_BACKEND"]
    printed = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
        str(settings.redacted()),
    ]
    for text in printed:
        assert_no_secret(text)
    assert "redis://:***@10.0.0.7:6379/0" in printed[2]
    assert settings.redacted()["kafka_sasl_password"] == "***"


@pytest.mark.parametrize(
    "text",
    [
        f"connecting to redis://:{REDIS_PASSWORD}@host:6379/0",
        f"amqp://user:{REDIS_PASSWORD}@rabbit//",
        f"{{'sasl_plain_password': '{SASL_PASSWORD}'}}",
        f"signature under {WEBHOOK_SECRET} failed",
    ],
)
def test_redact_masks_url_passwords_registered_and_named_secrets(text, monkeypatch):
    monkeypatch.setenv("VIGIL_ALERT_SECRET", WEBHOOK_SECRET)
    Settings.from_env(SECURE_ENV)  # registers its passwords
    masked = redact(text)
    assert_no_secret(masked)
    assert "***" in masked


@pytest.fixture
def vigil_logging() -> Iterator[None]:
    """Vigil's own log set-up at DEBUG, with kafka-python's debug on; restored afterwards."""
    root, kafka = logging.getLogger(), logging.getLogger("kafka")
    saved = (root.handlers[:], root.level, kafka.level)
    configure_logging(verbose=True)
    kafka.setLevel(logging.DEBUG)  # where kafka-python logs its whole configuration
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        kafka.setLevel(saved[2])


@pytest.mark.integration
def test_starting_a_role_with_secrets_logs_none_of_them(
    kafka_bootstrap, vigil_logging, monkeypatch, capsys
):
    monkeypatch.setenv("VIGIL_ALERT_SECRET", WEBHOOK_SECRET)
    # SASL settings with a PLAINTEXT listener: the clients are built (and log) as in
    # production, and still reach the test broker.
    env = {**SECURE_ENV, "VIGIL_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    env["VIGIL_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    settings = Settings.from_env(env)
    logging.getLogger("vigil.test").info("starting with %r", settings)
    bus = bus_from_settings(settings)
    bus.ensure_topics(["vigil.captures", "vigil.deadletter"], 1)
    config = PipelineConfig.model_validate(
        {
            "cameras": [{"id": "cam", "url": "x.mp4"}],
            "outputs": {
                "webhook": {"url": "http://127.0.0.1:9/hook", "secret_env": "VIGIL_ALERT_SECRET"}
            },
        }
    )
    worker = SinkWorker(bus, config)
    worker.close()
    logging.getLogger("vigil.test").warning("broker %s", settings.celery_broker)

    err = capsys.readouterr().err
    assert "Starting KafkaAdminClient with configuration" in err, "the debug line was logged"
    assert "sasl_plain_password': '***'" in err and "redis://:***@" in err
    assert_no_secret(err)
