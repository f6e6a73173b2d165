"""Video input: decoding files and folders, damaged files, reconnecting live sources, sampling,
motion. The RTSP test runs a real GStreamer RTSP server and kills it mid-stream."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.rtsp_server import PATTERN, RtspServer
from vigil.video import (
    DecodedFrame,
    MotionDetector,
    Sampler,
    SourceState,
    VideoSource,
    VideoSourceError,
)
from vigil.video.backoff import Backoff
from vigil.video.timeline import Timeline

VIDEOS = Path(__file__).resolve().parent / "media" / "video"
VTEST = VIDEOS / "vtest.avi"  # 768x576, 10 fps, 795 frames, MSMPEG4 in AVI (index at the end)
CARPHONE = VIDEOS / "carphone_pristine.mp4"  # 176x144, 30 fps, 120 frames, H.264, moov at end
WAIT = 60.0  # seconds: upper bound of every wait on the RTSP server, never a timing assertion


def faststart_copy(source: Path, target: Path) -> Path:
    """Remux an MP4 with its index (moov) first, as cameras and NVRs write them to survive a cut."""
    with av.open(source) as src, av.open(target, "w", options={"movflags": "+faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return target


def truncated_copy(source: Path, target: Path) -> Path:
    """The first half of a file: a recording cut off by a crash or a full disk."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def read_until_error(source: VideoSource) -> tuple[list[DecodedFrame], VideoSourceError]:
    frames: list[DecodedFrame] = []
    with pytest.raises(VideoSourceError) as raised:
        for frame in source.frames():
            frames.append(frame)
    return frames, raised.value


def assert_monotonic(frames: list[DecodedFrame]) -> None:
    indices = [frame.frame_index for frame in frames]
    times = np.array([frame.source_time for frame in frames])
    assert indices == sorted(set(indices)), "frame indices must strictly increase"
    assert np.all(np.diff(times) > 0), "source time must strictly increase"


def first_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(path) as container:
        decoded = container.decode(video=0)
        return [next(decoded).to_ndarray(format="bgr24") for _ in range(count)]


# ---- files ----


def test_file_yields_every_frame_in_order_then_ends() -> None:
    states: list[SourceState] = []
    source = VideoSource(VTEST, on_state=lambda state, _message: states.append(state))
    frames = list(source.frames())

    assert len(frames) == 795
    assert [frame.frame_index for frame in frames] == list(range(795))
    assert_monotonic(frames)
    assert frames[10].source_time == pytest.approx(1.0)  # 10 fps, from PTS
    assert frames[0].image.shape == (576, 768, 3) and frames[0].image.dtype == np.uint8
    assert np.array_equal(frames[0].image, first_frames(VTEST, 1)[0])
    assert states == [SourceState.CONNECTING, SourceState.STREAMING, SourceState.ENDED]
    assert (source.frames_decoded, source.decode_errors, source.reconnects) == (795, 0, 0)


@pytest.mark.parametrize("kind", ["avi", "mp4"])
def test_truncated_file_yields_frames_before_the_cut_then_raises(kind: str, tmp_path: Path) -> None:
    whole = VTEST if kind == "avi" else faststart_copy(CARPHONE, tmp_path / "whole.mp4")
    cut = truncated_copy(whole, tmp_path / f"cut.{kind}")
    source = VideoSource(cut)

    frames, error = read_until_error(source)

    total = 795 if kind == "avi" else 120
    assert 10 < len(frames) < total
    assert_monotonic(frames)
    expected = first_frames(whole, 5)
    assert all(np.array_equal(f.image, e) for f, e in zip(frames, expected, strict=False))
    assert error.code == "corrupt_stream"
    assert "truncated" in error.message and cut.name in error.message
    assert source.state is SourceState.FAILED


def test_mp4_cut_before_its_index_was_written_says_so(tmp_path: Path) -> None:
    cut = truncated_copy(CARPHONE, tmp_path / "unfinished.mp4")  # moov sits at the end
    frames, error = read_until_error(VideoSource(cut))
    assert frames == []
    assert error.code == "corrupt_stream"
    assert "moov" in error.message


def test_missing_file_fails_at_once_with_not_found(tmp_path: Path) -> None:
    states: list[SourceState] = []
    source = VideoSource(tmp_path / "nowhere.mp4", on_state=lambda s, _m: states.append(s))
    with pytest.raises(VideoSourceError) as raised:
        next(source.frames())
    assert raised.value.code == "not_found"
    assert "nowhere.mp4" in raised.value.message
    assert states == [SourceState.FAILED]  # no open attempt, no retry


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (bytes(range(256)) * 64, "unsupported", "not a video"),
        (b"", "corrupt_stream", "empty"),
    ],
)
def test_file_that_is_no_video_raises_a_clear_error(
    content: bytes, code: str, words: str, tmp_path: Path
) -> None:
    fake = tmp_path / "camera.mp4"
    fake.write_bytes(content)
    frames, error = read_until_error(VideoSource(fake))
    assert frames == []
    assert (error.code, words in error.message) == (code, True)


def test_folder_plays_its_videos_in_name_order_as_one_source(tmp_path: Path) -> None:
    (tmp_path / "b.mp4").symlink_to(faststart_copy(CARPHONE, tmp_path / "a.mp4"))
    (tmp_path / "notes.txt").write_text("not a video")

    frames = list(VideoSource(tmp_path).frames())

    assert len(frames) == 240
    assert [frame.frame_index for frame in frames] == list(range(240))
    assert_monotonic(frames)  # the second file continues the first one's clock
    assert np.array_equal(frames[0].image, frames[120].image)


def test_stop_ends_frames_between_frames() -> None:
    source = VideoSource(VTEST)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 10:
            source.stop()
    assert len(frames) == 10
    assert source.state is SourceState.ENDED


def test_live_source_reopens_at_end_of_stream_and_keeps_its_clock() -> None:
    """A file read as a live source: each end of stream is a disconnect and a reopen."""
    states: list[SourceState] = []
    source = VideoSource(
        CARPHONE,
        live=True,
        backoff_initial=0.01,
        backoff_max=0.02,
        max_reconnects=2,
        on_state=lambda state, _message: states.append(state),
    )
    frames, error = read_until_error(source)

    # A live source drops its oldest frame when the reader falls behind (the file is
    # decoded faster than real time here); a dropped frame still takes its index.
    assert len(frames) + source.frames_dropped == 3 * 120
    assert source.frames_dropped <= 12
    assert frames[-1].frame_index == 359
    assert_monotonic(frames)
    assert error.code == "reconnects_exhausted"
    assert source.reconnects == 2
    assert states.count(SourceState.BACKING_OFF) == 2
    assert states[-1] is SourceState.FAILED


def test_unreachable_camera_fails_after_max_reconnects_without_leaking_its_password() -> None:
    messages: list[str] = []
    source = VideoSource(
        "rtsp://admin:secret@127.0.0.1:9/stream",  # port 9 (discard): connection refused
        open_timeout=2.0,
        backoff_initial=0.01,
        max_reconnects=1,
        on_state=lambda _state, message: messages.append(message),
    )
    frames, error = read_until_error(source)
    assert frames == [] and source.live
    assert error.code == "reconnects_exhausted"
    assert "admin:***@127.0.0.1" in error.message
    assert not any("secret" in text for text in [*messages, str(error)])


# ---- clocks and schedules ----


def test_timeline_only_moves_forward_across_segments_and_repeats() -> None:
    timeline = Timeline()
    step = 0.1
    first = [timeline.place(t, step) for t in (0.0, 0.1, 0.2, 0.2, 0.3)]  # 0.2 repeats
    timeline.new_segment(gap=5.0)  # reconnected after a 5 s outage; PTS restart at 0
    second = [timeline.place(t, step) for t in (0.0, 0.1)]

    times = np.array(first + second)
    assert np.all(np.diff(times) > 0)
    assert second[0] == pytest.approx(first[-1] + 5.0)


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, rng=lambda: 0.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5
    jittered = Backoff(0.5, 4.0, jitter=0.2, rng=lambda: 1.0)
    assert [jittered.next() for _ in range(5)][-1] == pytest.approx(4.0 * 0.8)


def kept_times(sampler: Sampler, times: np.ndarray) -> np.ndarray:
    return np.array([t for t in times if sampler.keep(float(t))])


def test_sampler_keeps_about_five_of_thirty_fps() -> None:
    times = np.arange(300) / 30.0  # 10 s
    kept = kept_times(Sampler(5.0), times)
    assert 49 <= len(kept) <= 51
    assert np.diff(kept).min() > 0.15


def test_sampler_is_robust_to_jitter_gaps_and_steps_back() -> None:
    rng = np.random.default_rng(7)
    jittery = np.sort(np.arange(300) / 30.0 + rng.uniform(-0.01, 0.01, 300))
    assert 48 <= len(kept_times(Sampler(5.0), jittery)) <= 52

    sampler = Sampler(5.0)
    gap = np.concatenate([np.arange(30) / 30.0, 60.0 + np.arange(30) / 30.0])  # 59 s gap
    after_gap = kept_times(sampler, gap)
    assert len(after_gap[after_gap >= 60.0]) in (5, 6)  # no burst to "catch up"
    assert sampler.keep(0.0)  # time reset (new stream): sampling restarts at once


def numbered_mjpeg(path: Path, frames: int, fps: int) -> Path:
    """An MJPEG file (intra-only) whose frames differ: a bar at a place set by the index."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for index in range(frames):
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:, 4 * index : 4 * index + 4] = 255
        writer.write(frame)
    writer.release()
    return path


def sampled(source: VideoSource, fps: float) -> list[DecodedFrame]:
    sampler = Sampler(fps)
    return [frame for frame in source.frames() if sampler.keep(frame.source_time)]


def test_intra_only_frames_the_sampler_drops_are_not_decoded(tmp_path: Path) -> None:
    video = numbered_mjpeg(tmp_path / "mjpeg.avi", 30, fps=10)
    everything = VideoSource(video)
    wanted = sampled(everything, 5.0)
    skipping = VideoSource(video, sample_fps=5.0)
    got = sampled(skipping, 5.0)

    assert (everything.frames_decoded, everything.frames_skipped) == (30, 0)
    assert (skipping.frames_decoded, skipping.frames_skipped) == (15, 15)
    assert len(got) == len(wanted) == 15  # the same frames reach the caller
    assert [f.source_time for f in got] == pytest.approx([f.source_time for f in wanted])
    assert [f.frame_index for f in got] == [f.frame_index for f in wanted]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, wanted, strict=True))


def test_inter_coded_frames_are_all_decoded_whatever_the_sample_rate() -> None:
    source = VideoSource(CARPHONE, sample_fps=5.0)  # H.264: frames depend on each other
    assert len(sampled(source, 5.0)) == 20
    assert (source.frames_decoded, source.frames_skipped) == (120, 0)


def test_sampler_without_target_keeps_everything() -> None:
    assert len(kept_times(Sampler(None), np.arange(100) / 30.0)) == 100


# ---- motion ----


@pytest.fixture
def street(vtest_first_frame: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(vtest_first_frame, np.uint8), cv2.IMREAD_COLOR)


def test_static_scene_has_no_motion(street: np.ndarray) -> None:
    detector = MotionDetector()
    results = [detector.detect(street.copy()) for _ in range(3)]
    assert all(result.boxes == [] and result.fraction == 0.0 for result in results)


def test_moving_square_gets_a_box_around_it(street: np.ndarray) -> None:
    detector = MotionDetector()
    detector.detect(street)
    moved = street.copy()
    moved[200:260, 300:380] = (255, 255, 255)

    result = detector.detect(moved)

    assert len(result.boxes) == 1
    x1, y1, x2, y2 = result.boxes[0]
    assert x1 <= 300 and y1 <= 200 and x2 >= 380 and y2 >= 260  # covers the square
    assert x1 >= 260 and y1 >= 160 and x2 <= 420 and y2 <= 300  # and not much more
    assert 0 < result.fraction < 0.05


def walk(street: np.ndarray, steps: int, stop: int = 0) -> list:
    """A white 40x80 block walking right 6 px a frame for `steps` frames (the running
    background takes in where it lingers), then standing still for `stop` frames; every
    box of the last frame."""
    detector = MotionDetector()
    detector.detect(street)
    for step in range(1, steps + stop + 1):
        frame = street.copy()
        x = 200 + 6 * min(step, steps)
        frame[200:280, x : x + 40] = (255, 255, 255)
        result = detector.detect(frame)
    return result.boxes


def test_a_walkers_box_leaves_their_trail_behind(street: np.ndarray) -> None:
    """The running background keeps where the block was for a while (its blob reaches
    back to x ~330 here); the box is cut to where it moved since the last frame."""
    [box] = walk(street, steps=30)  # the block is at x 380-420
    x1, _, x2, _ = box
    assert 350 <= x1 <= 380 and x2 >= 420


def test_a_blob_that_stopped_keeps_its_whole_box(street: np.ndarray) -> None:
    """Nothing changed since the last frame: the blob (a walker who just stopped, a slow
    change) is searched whole, trail and all, as before."""
    [box] = walk(street, steps=30, stop=1)
    x1, y1, x2, y2 = box
    assert x1 <= 345 and x2 >= 420 and y1 <= 200 and y2 >= 280


def test_global_brightness_jump_is_lighting_not_motion(street: np.ndarray) -> None:
    detector = MotionDetector()
    detector.detect(street)
    brighter = cv2.convertScaleAbs(street, alpha=1.0, beta=60)

    jump = detector.detect(brighter)
    after = detector.detect(brighter)

    assert jump.lighting_change and jump.boxes == []
    assert after.boxes == [] and not after.lighting_change  # new light is the new background


# ---- RTSP ----


def collect(source: VideoSource, frames: list[DecodedFrame]) -> None:
    """Runs in a thread: the test thread meanwhile kills and restarts the server."""
    for frame in source.frames():
        frames.append(frame)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT:.0f}s: {what}")
        time.sleep(0.05)


# Not a skip: the RTSP path is core, so a machine without the server fails loudly.
needs_rtsp_server = pytest.mark.usefixtures("rtsp_ready")


@pytest.mark.integration
@needs_rtsp_server
def test_rtsp_test_pattern_streams_live_h264() -> None:
    with RtspServer(PATTERN) as server:
        source = VideoSource(server.url)
        frames = list(itertools.islice(source.frames(), 20))
    assert [frame.image.shape for frame in frames] == [(240, 320, 3)] * 20
    assert_monotonic(frames)
    assert source.live and source.reconnects == 0


@pytest.mark.integration
@needs_rtsp_server
def test_rtsp_source_backs_off_while_the_server_is_down_and_resumes() -> None:
    server = RtspServer(CARPHONE).start()
    states: list[SourceState] = []
    frames: list[DecodedFrame] = []
    source = VideoSource(
        server.url,
        open_timeout=5.0,
        read_timeout=5.0,
        stall_timeout=5.0,
        backoff_initial=0.2,
        backoff_max=1.0,
        on_state=lambda state, _message: states.append(state),
    )
    reader = threading.Thread(target=lambda: collect(source, frames), daemon=True)
    try:
        reader.start()
        wait_until(lambda: len(frames) >= 150, "150 frames, across the 120-frame file's loop")
        assert source.reconnects == 0 and source.state is SourceState.STREAMING

        server.stop()
        wait_until(lambda: source.reconnects >= 2, "reconnect attempts while the server is down")
        assert SourceState.BACKING_OFF in states
        before = len(frames)

        server.start()
        wait_until(lambda: len(frames) >= before + 30, "frames after the server came back")
        assert source.state is SourceState.STREAMING
        assert states[-1] is SourceState.STREAMING
    finally:
        source.stop()
        reader.join(WAIT)
        server.stop()
    assert not reader.is_alive()
    assert source.state is SourceState.ENDED
    assert_monotonic(frames)


@pytest.mark.integration
@needs_rtsp_server
def test_rtsp_source_gives_up_on_a_hung_stream_and_reopens() -> None:
    """A frozen server keeps the socket open and sends nothing: the stall watchdog must fire
    (read_timeout is set far above stall_timeout, so PyAV's own timeout cannot be what acts)."""
    server = RtspServer(CARPHONE).start()
    messages: list[str] = []
    frames: list[DecodedFrame] = []
    source = VideoSource(
        server.url,
        open_timeout=2.0,
        read_timeout=120.0,
        stall_timeout=2.0,
        backoff_initial=0.2,
        backoff_max=1.0,
        on_state=lambda state, message: messages.append(f"{state}: {message}"),
    )
    reader = threading.Thread(target=lambda: collect(source, frames), daemon=True)
    try:
        reader.start()
        wait_until(lambda: len(frames) >= 30, "frames before the server hangs")
        server.pause()
        wait_until(lambda: any("stalled" in message for message in messages), "stall detected")
        server.resume()
        before = len(frames)
        wait_until(lambda: len(frames) >= before + 30, "frames after the server resumed")
        assert source.reconnects >= 1
    finally:
        source.stop()
        reader.join(WAIT)
        server.stop()
    assert not reader.is_alive()
    assert_monotonic(frames)
