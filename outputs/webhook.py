"""Deliver events to a callback URL without ever making the pipeline wait for the receiver.

`deliver` only enqueues; worker threads POST, retry transient failures with capped,
jittered backoff, and turn everything they give up on into a DeadLetter. Delivery is
at-least-once (a timeout after the receiver acted causes a resend with the same
`X-Vigil-Event-Id`, which is the event's `message_id`, also in the JSON body), so
receivers de-duplicate by that header; with a secret it is signed (`v2`, see signing.py).

An event given with its `Origin` (topic, partition, offset) is reported to `on_settled`
once it is delivered or its dead letter (which then names that origin) was handed over:
the sink worker commits only settled offsets. `room` tells a caller how many events can
be queued now, so it can stop reading instead of overflowing the queue.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from http.client import HTTPException
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from vigil.infra.logs import redact_url
from vigil.infra.metrics import WEBHOOK_DELIVERIES
from vigil.outputs.delivery import (
    STOP,
    DeadLetterHandler,
    Failure,
    Job,
    QueuedSink,
    SettledHandler,
    backoff_delay,
)
from vigil.outputs.signing import EVENT_ID_HEADER, sign

log = logging.getLogger(__name__)

STAGE = "sink.webhook"
_RETRY_4XX = frozenset({408, 429})


def redact(url: str) -> str:
    """`url` without user info, query or fragment, which may carry credentials.

    Masked first (`redact_url`), so a password holding an unencoded `/` (which urlsplit
    takes for the end of the host) is gone before the URL is split.
    """
    parts = urlsplit(redact_url(url))
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _basic_auth(parts: SplitResult) -> str | None:
    """`https://user:pw@host/...` as a header: urllib itself would take 'user:pw@host' as a host."""
    if parts.username is None:
        return None
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(credentials.encode()).decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report redirects as failures: urllib would replay a POST as a body-less GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebhookSink(QueuedSink):
    """POST each event as JSON to `url` from `workers` background threads. Thread-safe."""

    STAGE = STAGE
    KIND = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout: float = 5.0,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        on_dead_letter: DeadLetterHandler | None = None,
        queue_size: int = 1000,
        workers: int = 2,
        on_settled: SettledHandler | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"webhook URL must be http or https: {redact(url)!r}")
        if min(max_attempts, queue_size, workers) < 1:
            raise ValueError("max_attempts, queue_size and workers must be at least 1")
        try:
            parts.port  # noqa: B018 - raises for "user:pa/ss@host": a port of "pa"
        except ValueError:
            raise ValueError(
                f"webhook URL has an invalid port, or a password with an unencoded '/', '?'"
                f" or '#' (percent-encode it): {redact(url)!r}"
            ) from None
        self._url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self._authorization = _basic_auth(parts)
        self._where = redact(url)
        self._secret = secret.encode() if secret else None
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)
        super().__init__(
            max_attempts=max_attempts,
            backoff=(backoff_initial, backoff_max),
            queue_size=queue_size,
            on_dead_letter=on_dead_letter,
            on_settled=on_settled,
        )
        self._threads = [
            threading.Thread(target=self._run, name=f"vigil-webhook-{index}", daemon=True)
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def __repr__(self) -> str:
        signed = self._secret is not None
        return f"WebhookSink(url={self._where!r}, signed={signed}, workers={len(self._threads)})"

    def close(self, timeout: float = 30.0, dead_letter_backlog: bool = True) -> None:
        """Deliver what is queued, then stop the threads, within `timeout` seconds.

        What is still queued at the deadline is dead-lettered, not dropped; a request
        in flight then finishes in its (daemon) thread without further retries. With
        `dead_letter_backlog=False` those events are left unsettled instead: a caller
        that commits only settled offsets has the next process deliver them.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._keep_backlog = not dead_letter_backlog
        for _ in self._threads:  # FIFO: each worker reaches its stop after the backlog
            try:
                self._queue.put(STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._abort.set()
        self._drain()
        for thread in self._threads:
            if thread.is_alive():
                with suppress(queue.Full):
                    self._queue.put_nowait(STOP)

    def _send(self, job: Job) -> None:
        for attempt in range(1, self._max_attempts + 1):
            failure = self._post(job)
            if failure is None:
                self._count("delivered")
                self._settled(job)
                return
            if not failure.retryable or attempt == self._max_attempts:
                break
            if self._abort.wait(backoff_delay(attempt, *self._backoff)):
                if self._keep_backlog:  # unsettled: the next process delivers it
                    return
                failure = Failure(f"{failure.reason}; sink closed", failure.code, False)
                break
            self._count("retried")
        # max_attempts >= 1 (checked in __init__): the loop only ends by a return or by a
        # break on a failure
        assert failure is not None
        reason = f"{failure.reason} (attempt {attempt} of {self._max_attempts})"
        self._give_up(job, reason, failure.code)

    def _post(self, job: Job) -> Failure | None:
        request = urllib.request.Request(
            self._url, data=job.body, headers=self._headers(job), method="POST"
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            error.close()
            retryable = error.code >= 500 or error.code in _RETRY_4XX
            reason = f"POST {self._where} returned HTTP {error.code}"
            return Failure(reason, f"http_{error.code}", retryable)
        except urllib.error.URLError as error:
            return self._network_failure(error.reason)
        except (OSError, HTTPException) as error:
            return self._network_failure(error)
        return None

    def _network_failure(self, cause: object) -> Failure:
        if isinstance(cause, TimeoutError):
            reason = f"POST {self._where} timed out after {self._timeout}s"
            return Failure(reason, "timeout", True)
        return Failure(f"POST {self._where} failed: {cause}", "connection", True)

    def _headers(self, job: Job) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "vigil-webhook/1",
            EVENT_ID_HEADER: job.event_id,
        }
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        if self._secret is not None:  # signed per attempt: a late retry stays within tolerance
            headers.update(sign(job.body, self._secret, event_id=job.event_id))
        return headers

    def _counted(self, result: str) -> None:
        WEBHOOK_DELIVERIES.labels(result=result).inc()
