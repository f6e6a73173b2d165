"""The operator console end to end: a real `vigil serve`, headless Chromium, no mocks.

Through the console only: paste a key, create a watchlist and enrol a face by upload,
play a video file as a camera, see the alert on the live page within 2 s of the alert
event (timed against a second client of the same event stream), search the history with
a photo and find that capture, acknowledge the alert. Chromium is Debian's
(`/usr/bin/chromium`, .ci/apt-packages.txt), driven by Playwright's Python package; no
browser is downloaded. With VIGIL_CONSOLE_SCREENSHOTS=DIR the pages are also saved
there as PNG (docs/console-*.png were made so).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IMAGES
from tests.support.api_keys import bearer, new_key
from tests.support.processes import free_port, start_vigil_serve, stop, wait_healthy
from tests.synthetic_video import moving_faces_frames, write_video
from tests.test_alarm import empty_scene, face_patch

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
SHOTS = os.environ.get("VIGIL_CONSOLE_SCREENSHOTS")


class Server:
    def __init__(self, url: str, key: str, media: Path) -> None:
        self.url, self.key, self.media = url, key, media

    def get(self, path: str) -> dict:
        request = urllib.request.Request(self.url + path, headers=bearer(self.key))
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("console")
    media = folder / "media"
    media.mkdir()
    # nobody for 2 s, then the enrolled man walks through (the alarm tests' scene)
    walk = moving_faces_frames([face_patch(IMAGES, "obama2.jpg")], frames=40)
    write_video(empty_scene(10) + walk, media / "walk.mkv", fps=5)
    key = new_key(folder / "keys.json")
    port = free_port()
    log = (folder / "serve.log").open("w")
    process = start_vigil_serve(
        port,
        folder,
        log,
        {"VIGIL_HTTP_ALERTS": str(folder / "alerts.jsonl")},
        "--source-dir",
        str(media),
    )
    try:
        wait_healthy(port, process)
        yield Server(f"http://127.0.0.1:{port}", key, media)
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def page(server: Server):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        yield context.new_page()
        browser.close()


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"))


class AlertListener(threading.Thread):
    """A second client of the alert stream: when the first alert event reached it."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.received: float | None = None
        self.alert: dict | None = None
        self.connected = threading.Event()

    def run(self) -> None:
        request = urllib.request.Request(
            self.server.url + "/v1/alerts/stream?seconds=120", headers=bearer(self.server.key)
        )
        with urllib.request.urlopen(request, timeout=130) as stream:
            self.connected.set()
            for line in stream:
                if line.startswith(b"data: "):
                    self.received = time.time()
                    self.alert = json.loads(line[6:])
                    return


def test_enrol_play_alert_search_acknowledge_in_the_console(server: Server, page) -> None:
    began = time.monotonic()
    page.goto(server.url + "/console/")
    page.fill("#key", server.key)
    page.click("#login-form button")
    page.wait_for_selector("#login", state="hidden")

    # a watchlist and a member, enrolled by upload
    page.goto(server.url + "/console/#watchlists")
    page.fill("#group-name", "wanted")
    page.click("#group-form button")
    page.wait_for_selector("#group-detail:not([hidden])")
    page.fill("#person-id", "obama")
    page.set_input_files("#person-photos", str(IMAGES / "obama.jpg"))
    page.click("#enrol-form button")
    page.wait_for_selector("[data-testid=member][data-person=obama] img")
    assert server.get("/v1/groups/wanted")["member_count"] == 1
    shot(page, "watchlists")

    # the live page notes when an alert card first shows
    page.goto(server.url + "/console/#alerts")
    page.evaluate(
        """() => new MutationObserver((_, observer) => {
             if (document.querySelector('[data-testid=alert]')) {
               window.alertShownAt = Date.now(); observer.disconnect(); }
           }).observe(document.getElementById('alerts'), {childList: true})"""
    )
    listener = AlertListener(server)
    listener.start()
    assert listener.connected.wait(10)

    # a video file played as a camera
    page.goto(server.url + "/console/#cameras")
    page.fill("#camera-id", "door")
    page.fill("#camera-url", str(server.media / "walk.mkv"))
    page.click("#camera-form button")
    page.wait_for_selector("#cameras tr[data-camera=door]")
    shot(page, "cameras")
    page.goto(server.url + "/console/#alerts")

    card = page.wait_for_selector("[data-testid=alert]", timeout=45_000)
    listener.join(10)
    assert listener.alert is not None and listener.received is not None
    shown = page.evaluate("() => window.alertShownAt") / 1000
    assert shown - listener.received < 2.0, f"shown {shown - listener.received:.2f} s after"
    alert = listener.alert
    assert (alert["person_id"], alert["watchlist"], alert["camera_id"]) == (
        "obama",
        "wanted",
        "door",
    )
    assert card.get_attribute("data-alert-id") == alert["alert_id"]
    assert card.query_selector("img.enrolled") or page.wait_for_selector("img.enrolled")
    assert "obama" in card.inner_text()
    shot(page, "alerts")

    # the history, searched with a photo, holds the capture that alerted
    page.goto(server.url + "/console/#history")
    deadline = time.monotonic() + 20
    wanted = f'[data-testid=hit][data-capture-id="{alert["capture_id"]}"]'
    while True:  # the history writer stores the capture moments after the alarm saw it
        page.set_input_files("#history-file", str(IMAGES / "obama.jpg"))
        page.wait_for_selector("#history-query:has-text('nearest')")
        if page.query_selector(wanted) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    hit = page.wait_for_selector(wanted, timeout=1000)
    assert "match" in hit.get_attribute("class")
    shot(page, "history")

    # acknowledge it
    page.goto(server.url + "/console/#alerts")
    page.click(f'[data-alert-id="{alert["alert_id"]}"] button.ack')
    page.wait_for_selector(f'[data-alert-id="{alert["alert_id"]}"].acked')
    [entry] = [
        e for e in server.get("/v1/alerts")["alerts"] if e["alert"]["alert_id"] == alert["alert_id"]
    ]
    assert entry["acknowledgement"]["by"].startswith("tests")
    assert time.monotonic() - began < 60


def test_the_captures_wall_filters_by_camera_and_type(server: Server, page) -> None:
    page.goto(server.url + "/console/#captures")
    page.wait_for_selector("#f-camera option[value=door]", state="attached")
    page.select_option("#f-camera", "door")
    page.select_option("#f-type", "face")
    page.click("#capture-filters button")
    page.wait_for_selector("[data-testid=capture]")
    shot(page, "captures")
    page.select_option("#f-type", "vehicle")
    page.click("#capture-filters button")
    page.wait_for_selector("#wall-empty:not([hidden])")
    assert page.query_selector("[data-testid=capture]") is None
