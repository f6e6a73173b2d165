"""A real RTSP server for reconnect tests: serves an H.264 mp4 (looped) or a live test pattern.

FFmpeg cannot serve RTSP to pulling clients, so this uses Debian's GStreamer RTSP server.
Its Python bindings (python3-gi) live in Debian's /usr/bin/python3, not in the venv, so
the server runs as a child process: this same file, run as a script by that interpreter.
Importing the module (from the venv) only needs the standard library.

    server = RtspServer(VIDEOS / "carphone_pristine.mp4").start()
    ...  # read server.url; stop() kills it, start() brings it back, pause() hangs it
"""

from __future__ import annotations

import argparse
import functools
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
PATTERN = "pattern"
"""Pass as the source to serve a live x264 test pattern instead of a file."""

# `apt-get install` these (see .ci/apt-packages.txt); the elements below come from them.
REQUIRED_ELEMENTS = ("filesrc", "qtdemux", "h264parse", "rtph264pay", "videotestsrc", "x264enc")

_FILE_PIPELINE = (
    '( filesrc location="{location}" ! qtdemux name=demux demux.video_0 ! queue'
    " ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)
_PATTERN_PIPELINE = (
    "( videotestsrc is-live=true pattern=ball"
    " ! video/x-raw,width=320,height=240,framerate=15/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15"
    " ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


class RtspServer:
    """One RTSP server process on a fixed port, so a test can kill it and restart it in place.

    `port=0` lets the server pick a free port on the first start (no bind race); later
    starts reuse that port, which is what a camera coming back looks like to a client.
    """

    def __init__(self, source: str | Path = PATTERN, port: int = 0, mount: str = "/stream"):
        self.source = str(source)
        self.port = port
        self.mount = mount
        self.crashes = 0
        self._process: subprocess.Popen[str] | None = None

    @staticmethod
    @functools.cache
    def available() -> bool:
        """True when Debian's python3 can load the GStreamer RTSP server and every element used."""
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            return False
        check = subprocess.run(
            [SYSTEM_PYTHON, __file__, "--check"], capture_output=True, timeout=60, check=False
        )
        return check.returncode == 0

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    def start(self, timeout: float = 30.0) -> RtspServer:
        """Start the server and return once it listens; raise if it dies or stays silent."""
        if self._process is not None:
            raise RuntimeError("RTSP server already running")
        command = [SYSTEM_PYTHON, __file__, "--port", str(self.port), "--mount", self.mount]
        # stderr goes to a file: a pipe nobody drains would block GStreamer's warnings.
        self.log = Path(tempfile.mkstemp(prefix="rtsp-server-", suffix=".log")[1])
        with self.log.open("w") as log:
            process = subprocess.Popen(
                [*command, self.source], stdout=subprocess.PIPE, stderr=log, text=True
            )
        self._process = process
        try:
            self.port = _read_ready_port(process, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def status(self) -> str:
        """For test failure messages: alive or exit status, and the end of its log."""
        process = self._process
        state = (
            "not started"
            if process is None
            else ("running" if process.poll() is None else f"exited {process.returncode}")
        )
        tail = self.log.read_text()[-2000:] if getattr(self, "log", None) else ""
        return f"RTSP server {state}, {self.crashes} crash(es) revived; log: {tail}"

    def revive_if_crashed(self) -> bool:
        """Start again a server that died on its own; True if it had.

        GStreamer's RTSP server 1.22 sometimes aborts on an assertion
        (`gst_rtsp_media_get_rates`) while a client reconnects. For the client that is one
        more outage of the camera, which is what these tests are about, so the server is
        brought back in place rather than the test failing on the test server's bug.
        """
        process = self._process
        if process is None or process.poll() is None:
            return False
        self.crashes += 1
        self._process = None
        self.start()
        return True

    def stop(self) -> None:
        """Kill the server (SIGKILL, like a camera losing power) and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but go silent, like a hung camera."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: signal.Signals) -> None:
        if self._process is None:
            raise RuntimeError("RTSP server not running")
        self._process.send_signal(number)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_ready_port(process: subprocess.Popen[str], timeout: float) -> int:
    """Wait for the child's "READY <port>" line; its stderr explains an early exit."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"RTSP server exited (exit status {process.wait()})")
            if line.startswith("READY "):
                return int(line.split()[1])
    raise TimeoutError(f"RTSP server did not start within {timeout}s")


# ---- everything below runs in Debian's /usr/bin/python3 (needs python3-gi) ----


def _load_gstreamer() -> tuple[Any, Any, Any]:
    """GLib, Gst and GstRtspServer (untyped gi modules), with Gst initialised."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    return GLib, Gst, GstRtspServer


def _check() -> int:
    """Exit status 0 when the bindings and every element needed are installed."""
    try:
        _, gst, _ = _load_gstreamer()
    except (ImportError, ValueError) as error:
        print(f"GStreamer RTSP bindings missing: {error}", file=sys.stderr)
        return 1
    missing = [name for name in REQUIRED_ELEMENTS if gst.ElementFactory.find(name) is None]
    if missing:
        print(f"GStreamer elements missing: {', '.join(missing)}", file=sys.stderr)
    return 1 if missing else 0


def _loop_at_end(gst: Any, glib: Any, media: Any) -> None:
    """Make a file play forever with segment seeks (GStreamer's gapless loop).

    A segment seek ends in SEGMENT_DONE instead of EOS; answering it with a
    non-flushing segment seek back to 0 keeps running time (and with it the RTP
    timestamps) increasing, so the client sees one continuous live stream.
    """
    demux = media.get_element().get_by_name("demux")

    def seek(flags: Any) -> bool:
        flags |= gst.SeekFlags.SEGMENT
        demux.seek(1.0, gst.Format.TIME, flags, gst.SeekType.SET, 0, gst.SeekType.NONE, -1)
        return False  # run once when called from GLib.idle_add

    def on_event(_pad: Any, info: Any) -> Any:
        if info.get_event().type == gst.EventType.SEGMENT_DONE:
            glib.idle_add(seek, gst.SeekFlags.NONE)
        return gst.PadProbeReturn.OK

    def on_pad(_element: Any, pad: Any) -> None:
        pad.add_probe(gst.PadProbeType.EVENT_DOWNSTREAM, on_event)

    demux.connect("pad-added", on_pad)
    media.connect("prepared", lambda _media: seek(gst.SeekFlags.FLUSH))


def _serve(source: str, port: int, mount: str) -> None:
    glib, gst, rtsp = _load_gstreamer()
    server = rtsp.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = rtsp.RTSPMediaFactory()
    if source == PATTERN:
        factory.set_launch(_PATTERN_PIPELINE)
        factory.set_shared(True)
    else:
        # Not shared: each client gets its own pipeline from the file's first frame. The
        # fixture has a single keyframe, so a late joiner of a shared one would wait a loop.
        path = Path(source).resolve(strict=True)
        factory.set_launch(_FILE_PIPELINE.format(location=path))
        factory.connect("media-configure", lambda _f, media: _loop_at_end(gst, glib, media))
    server.get_mount_points().add_factory(mount, factory)
    server.attach(None)
    print(f"READY {server.get_bound_port()}", flush=True)
    glib.MainLoop().run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default=PATTERN, help=f"mp4 file or {PATTERN!r}")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mount", default="/stream")
    parser.add_argument("--check", action="store_true", help="only check the dependencies")
    args = parser.parse_args()
    if args.check:
        return _check()
    _serve(args.source, args.port, args.mount)
    return 0


if __name__ == "__main__":
    sys.exit(main())
