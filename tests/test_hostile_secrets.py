"""Secrets: Kafka SASL/TLS, the Redis password and the webhook secret reach the clients
that need them, and never a log line, a repr or a settings dump."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from vigil.errors import ErrorCode, VigilError
from vigil.infra.bus.factory import bus_from_settings
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.celery_app import create_app
from vigil.infra.logs import configure_logging, redact
from vigil.infra.settings import Settings
from vigil.outputs.sink_worker import SinkWorker
from vigil.schemas.camera import PipelineConfig, WebhookConfig

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


# --- issue 12.6c: JSON log lines mask secrets that JSON escaping would change ------------

ESCAPED_SECRETS = ['pä"ss\\wörd-1', "plain-ascii-secret-2", "ключ\u2028сек\tрет"]


@pytest.fixture
def json_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(verbose=True, fmt="json")
    try:
        yield
    finally:
        root.handlers[:], root.level = saved


@pytest.mark.parametrize(
    "secret", ESCAPED_SECRETS, ids=["umlaut-quote-backslash", "ascii", "cyrillic-controls"]
)
def test_json_log_lines_mask_secrets_before_escaping(secret, json_logging, monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_TEST_SECRET", secret)
    log = logging.getLogger("vigil.test")
    try:
        raise RuntimeError(f"login with {secret} failed")
    except RuntimeError:
        log.exception("connecting with %s", secret, extra={"detail": {"password": [secret]}})
    err = capsys.readouterr().err
    [line] = [text for text in err.splitlines() if text.strip()]
    entry = json.loads(line)
    assert entry["message"] == "connecting with ***"
    assert entry["detail"] == {"password": ["***"]}
    assert "login with *** failed" in entry["exception"]
    for form in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        assert form not in line


# --- issue 12.6d: URL credentials in query strings and awkward passwords -----------------

URL_CASES = [
    ("rtsp://admin:pa/ss@cam.local/stream", "pa/ss", "rtsp://admin:***@cam.local/stream"),
    ("rtsp://admin:p@ss#1@cam.local/s", "p@ss#1", "rtsp://admin:***@cam.local/s"),
    ("rtsp://cam.local/live?token=tok-123&ch=1", "tok-123", "rtsp://cam.local/live?token=***&ch=1"),
    ("http://cam.local/mjpg?user=a&Password=pw-456", "pw-456", "?user=a&Password=***"),
    ("https://cam.local/x?api_key=k-789#frag", "k-789", "?api_key=***#frag"),
    ("https://cdn/x.mp4?X-Amz-Signature=sig-abc&X-Amz-Credential=AKIA/2024",
     "sig-abc", "X-Amz-Signature=***&X-Amz-Credential=***"),
    ("https://cam.local/cb#access_token=tok-def", "tok-def", "#access_token=***"),
    ("https://ghp_tok3n@host.example/repo", "ghp_tok3n", "https://***@host.example/repo"),
    ("redis://:pa/ss@redis:6379/0", "pa/ss", "redis://:***@redis:6379/0"),
]  # fmt: skip
PLAIN_URLS = ["rtsp://10.0.0.5/stream1", "/data/a@b.mp4", "http://cam/snap@2x.jpg", "x.mp4"]


@pytest.mark.parametrize(("url", "secret", "shown"), URL_CASES)
def test_url_credentials_are_masked_by_every_redaction_helper(url, secret, shown):
    from vigil.outputs.webhook import redact as webhook_redact
    from vigil.video.errors import redact as camera_redact

    for helper in (camera_redact, redact):
        masked = helper(f"opening {url}: failed")
        assert secret not in masked and shown in masked, (helper, masked)
    assert secret not in webhook_redact(url)


@pytest.mark.parametrize("url", PLAIN_URLS)
def test_urls_without_credentials_are_shown_as_they_are(url):
    from vigil.video.errors import redact as camera_redact

    assert camera_redact(url) == url and redact(f"at {url} now") == f"at {url} now"


def test_a_camera_token_never_reaches_a_state_message_or_error():
    from vigil.video.source import VideoSource

    messages: list[str] = []
    source = VideoSource(
        "rtsp://127.0.0.1:9/live?token=tok-secret-42&channel=1",  # port 9: refused at once
        open_timeout=2.0,
        max_reconnects=0,
        on_state=lambda _state, message: messages.append(message),
    )
    with pytest.raises(Exception) as failed:
        list(source.frames())
    shown = [*messages, str(failed.value)]
    assert not any("tok-secret-42" in text for text in shown), shown
    assert any("token=***" in text for text in shown), shown


def test_logged_lines_mask_query_tokens_and_slashed_passwords(vigil_logging, capsys):
    logging.getLogger("vigil.test").warning(
        "camera %s: %s", "gate", "rtsp://admin:pa/ss@cam/s?token=tok-xyz reconnecting"
    )
    err = capsys.readouterr().err
    assert "pa/ss" not in err and "tok-xyz" not in err
    assert "rtsp://admin:***@cam/s?token=***" in err


# --- issue 12.6j: an unset secret_env is a coded error naming the variable ---------------


def webhook_config(variable: str) -> WebhookConfig:
    return WebhookConfig(url="http://127.0.0.1:9/hook", secret_env=variable)


def test_an_unset_or_empty_secret_variable_is_a_coded_error_naming_it(monkeypatch):
    monkeypatch.delenv("VIGIL_UNSET_TEST_SECRET", raising=False)
    monkeypatch.setenv("VIGIL_EMPTY_TEST_SECRET", "")
    monkeypatch.setenv("VIGIL_SET_TEST_SECRET", WEBHOOK_SECRET)
    for variable, state in [
        ("VIGIL_UNSET_TEST_SECRET", "not set"),
        ("VIGIL_EMPTY_TEST_SECRET", "empty"),
    ]:
        with pytest.raises(VigilError) as refused:
            webhook_config(variable).secret()
        assert refused.value.code == ErrorCode.INVALID_OPTIONS
        assert variable in refused.value.message and state in refused.value.message
    assert webhook_config("VIGIL_SET_TEST_SECRET").secret() == WEBHOOK_SECRET
    assert WebhookConfig(url="http://127.0.0.1:9/hook").secret() is None


def test_the_sink_refuses_to_start_with_a_coded_error(monkeypatch):
    from vigil.outputs.sink_worker import webhook_sink

    monkeypatch.delenv("VIGIL_UNSET_TEST_SECRET", raising=False)
    with pytest.raises(VigilError) as refused:
        webhook_sink(webhook_config("VIGIL_UNSET_TEST_SECRET"), lambda _letter: None)
    assert "VIGIL_UNSET_TEST_SECRET" in refused.value.message
