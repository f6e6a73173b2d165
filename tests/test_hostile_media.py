"""Hostile pictures and videos: bombs refused from their headers, broken codecs and
odd file sources end with a coded error, fast, and never take the ingestor down.

Policy for camera file sources: a `url` is operator configuration, so any path is
allowed, but only a regular file (or a folder of them) is opened; devices, pipes and
sockets are refused before opening (a FIFO would hang the open, /dev/urandom could
stream forever), and whatever else is not a video is refused by the decoder with a
message that names the path, never the file's content.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from tests.synthetic_video import write_video
from tests.test_video_source import CARPHONE, VTEST, faststart_copy, read_until_error
from vigil.analysis.image_decoder import decode_image
from vigil.capture.ingestor import CameraIngestor
from vigil.errors import ErrorCode, VigilError
from vigil.infra.bus.base import MessageTooLarge
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.frames import FrameTopic
from vigil.schemas.camera import CameraConfig, TopicNames
from vigil.video import VideoSource
from vigil.video.decoder import MAX_FRAME_PIXELS

pytestmark = pytest.mark.timeout(60)
SECRET_LINE = b"root:$6$hash-that-must-never-be-echoed:19000:0:99999:7:::\n"


def pil_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_claiming(side: int) -> bytes:
    """A 16x16 JPEG whose frame header (SOF0) claims side x side."""
    data = bytearray(cv2.imencode(".jpg", np.full((16, 16, 3), 90, np.uint8))[1].tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def webp_claiming(side: int, lossless: bool) -> bytes:
    data = bytearray(pil_bytes(Image.new("RGB", (16, 16)), "WEBP", lossless=lossless))
    if lossless:  # VP8L: 14 bits width-1, 14 bits height-1 after the signature byte
        (word,) = struct.unpack("<I", data[21:25])
        size = (side - 1) | ((side - 1) << 14)
        data[21:25] = struct.pack("<I", (word & ~((1 << 28) - 1)) | size)
    else:  # VP8: 14-bit width and height after the start code
        data[26:30] = struct.pack("<HH", side, side)
    return bytes(data)


def bmp_claiming(side: int) -> bytes:
    data = bytearray(cv2.imencode(".bmp", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    data[18:26] = struct.pack("<ii", side, side)
    return bytes(data)


def gif_claiming(side: int) -> bytes:
    data = bytearray(pil_bytes(Image.new("P", (16, 16)), "GIF"))
    data[6:10] = struct.pack("<HH", side, side)
    return bytes(data)


def tiff_claiming(side: int) -> bytes:
    """A minimal bilevel TIFF header: 60000x60000 of CCITT G4 would be a few KB on disk."""
    tags = [(256, 4, side), (257, 4, side), (258, 3, 1), (259, 3, 4), (262, 3, 0)]
    ifd = struct.pack("<H", len(tags))
    ifd += b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(jpeg_claiming(60000), ErrorCode.IMAGE_TOO_LARGE, id="jpeg"),
        pytest.param(webp_claiming(16383, lossless=False), ErrorCode.IMAGE_TOO_LARGE, id="webp"),
        pytest.param(webp_claiming(16383, lossless=True), ErrorCode.IMAGE_TOO_LARGE, id="webp-ll"),
        pytest.param(bmp_claiming(60000), ErrorCode.IMAGE_TOO_LARGE, id="bmp"),
        pytest.param(gif_claiming(60000), ErrorCode.UNSUPPORTED_FORMAT, id="gif"),
        pytest.param(tiff_claiming(60000), ErrorCode.UNSUPPORTED_FORMAT, id="tiff"),
    ],
)
def test_picture_bombs_are_refused_from_their_header(data: bytes, code: ErrorCode):
    assert len(data) < 1000, "tiny on the wire, gigabytes once decoded"
    with pytest.raises(VigilError) as caught:
        decode_image(data)
    assert caught.value.code == code
    if code == ErrorCode.IMAGE_TOO_LARGE:
        assert "pixels, over the limit" in caught.value.message


# --- decode amplification under the pixel limit -----------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_rgba16(width: int, height: int, extra: bytes = b"") -> bytes:
    """A flat transparent 16-bit RGBA PNG: 381 KB at 7000x7000, 392 MB of samples decoded."""
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    packer = zlib.compressobj(9)
    row = bytes(1 + width * 8)  # filter byte 0, then 4 samples of 2 bytes per pixel
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def noisy_jpeg(**options) -> bytes:
    """A 400x300 JPEG of noise (no run of flat blocks: a cut is never mistaken for the end)."""
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    return pil_bytes(Image.fromarray(noise), "JPEG", quality=90, **options)


def jpeg_with_metadata(megabytes: float) -> bytes:
    """A 16x16 JPEG carrying `megabytes` of APP1 (EXIF) segments of 64 KB each."""
    small = cv2.imencode(".jpg", np.full((16, 16, 3), 90, np.uint8))[1].tobytes()
    segment = b"\xff\xe1" + struct.pack(">H", 65535) + b"Exif\x00\x00" + bytes(65527)
    count = int(megabytes * 1_000_000) // len(segment) + 1
    return small[:2] + segment * count + small[2:]


def png_with_text(megabytes: float) -> bytes:
    body = b"Comment\x00" + b"x" * int(megabytes * 1_000_000)
    data = cv2.imencode(".png", np.full((16, 16, 3), 90, np.uint8))[1].tobytes()
    return data[:33] + png_chunk(b"tEXt", body) + data[33:]


def webp_with_exif(megabytes: float) -> bytes:
    exif = b"Exif\x00\x00" + bytes(int(megabytes * 1_000_000))
    return pil_bytes(Image.new("RGB", (16, 16), (90, 90, 90)), "WEBP", exif=exif)


def refused(data: bytes, **kwargs) -> tuple[VigilError, float]:
    started = time.perf_counter()
    with pytest.raises(VigilError) as caught:
        decode_image(data, **kwargs)
    return caught.value, time.perf_counter() - started


def test_a_16_bit_rgba_png_must_fit_the_decode_budget():
    """16-bit RGBA costs 8 bytes a pixel: 2.2 GB and 21 s for 7000x7000 before the budget."""
    bomb = png_rgba16(1000, 1000)  # 1 MP, under max_pixels, but 8 MB of samples
    error, elapsed = refused(bomb, max_pixels=1_500_000)
    assert error.code == ErrorCode.IMAGE_TOO_LARGE and elapsed < 1.0
    assert "16-bit" in error.message and "8,000,000 bytes" in error.message
    fits = decode_image(png_rgba16(500, 500), max_pixels=1_500_000)
    assert fits.shape == (500, 500, 3) and fits.min() == 255, "transparent is composited on white"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: jpeg_claiming(7000), id="header-claiming-7000x7000"),
        pytest.param(lambda: noisy_jpeg()[: len(noisy_jpeg()) // 2], id="cut"),
        pytest.param(lambda: noisy_jpeg()[: len(noisy_jpeg()) // 2] + b"\xff\xd9", id="cut+eoi"),
        pytest.param(
            lambda: noisy_jpeg(progressive=True)[:-3000] + b"\xff\xd9", id="progressive-cut+eoi"
        ),
        pytest.param(
            lambda: noisy_jpeg()[: noisy_jpeg().find(b"\xff\xda")] + b"\xff\xd9", id="no-scan"
        ),
    ],
)
def test_a_truncated_jpeg_is_corrupt_however_it_ends(make):
    data = make()
    error, elapsed = refused(data)
    assert error.code == ErrorCode.CORRUPT_IMAGE, error
    assert elapsed < 1.0, "refused from its structure, before a 7000x7000 decode (7 s)"


def test_a_complete_jpeg_with_trailing_bytes_still_decodes():
    data = noisy_jpeg() + b"\x00" * 100  # cameras pad; motion photos append a video
    assert decode_image(data).shape == (300, 400, 3)


@pytest.mark.parametrize(
    ("make", "size_mb"),
    [
        pytest.param(jpeg_with_metadata, 40, id="jpeg-exif"),
        pytest.param(png_with_text, 20, id="png-text"),
        pytest.param(webp_with_exif, 20, id="webp-exif"),
    ],
)
def test_metadata_bombs_are_refused_before_parsing(make, size_mb: int):
    """A 65 MB EXIF block took 31 s (quadratic in the header parser) for a 16x16 picture."""
    data = make(size_mb)
    assert len(data) > size_mb * 1_000_000
    error, elapsed = refused(data)
    assert error.code == ErrorCode.IMAGE_TOO_LARGE and "metadata" in error.message
    assert elapsed < 1.0


def test_small_metadata_is_fine():
    for data in (jpeg_with_metadata(1), png_with_text(1), webp_with_exif(1)):
        assert decode_image(data).shape == (16, 16, 3)


def test_arithmetic_coded_jpeg_is_unsupported():
    data = bytearray(noisy_jpeg())
    sof = data.find(b"\xff\xc0")
    data[sof + 1] = 0xC9  # SOF9: arithmetic coding (no browser decodes it either)
    error, _ = refused(bytes(data))
    assert error.code == ErrorCode.UNSUPPORTED_FORMAT and "arithmetic" in error.message


# --- videos ---------------------------------------------------------------------------------


def mjpeg_claiming(path: Path, width: int, height: int, frames: int = 2) -> Path:
    """An MJPEG AVI of flat grey frames: a few hundred KB, a 100 MB array per frame."""
    jpeg = pil_bytes(Image.new("L", (width, height), 90), "JPEG", quality=5)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        for index in range(frames):
            packet = av.Packet(jpeg)
            packet.pts = packet.dts = index
            packet.stream = stream
            container.mux(packet)
    return path


def test_video_beyond_8k_is_refused_before_a_frame_is_decoded(tmp_path: Path):
    bomb = mjpeg_claiming(tmp_path / "bomb.avi", 9000, 4400)
    assert MAX_FRAME_PIXELS < 9000 * 4400 and bomb.stat().st_size < 2_000_000
    frames, error = read_until_error(VideoSource(bomb))
    assert frames == []
    assert error.code == "unsupported" and "9000x4400" in error.message and "8K" in error.message


def test_h264_header_with_garbage_data_fails_as_corrupt(tmp_path: Path):
    data = bytearray(faststart_copy(CARPHONE, tmp_path / "whole.mp4").read_bytes())
    payload = data.find(b"mdat") + 4  # index (moov) intact, every sample replaced by noise
    noise = np.random.default_rng(0).integers(0, 256, len(data) - payload, dtype=np.uint8)
    data[payload:] = noise.tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    frames, error = read_until_error(VideoSource(broken))
    assert frames == [] and error.code == "corrupt_stream"
    assert "could not be decoded" in error.message


def zero_size_frames(path: Path, packets: int = 40) -> Path:
    """vtest's first packets, every second one written as an empty (zero-size) chunk."""
    with av.open(str(VTEST)) as source, av.open(str(path), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for index, packet in enumerate(source.demux(source.streams.video[0])):
            if index == packets:
                break
            if index % 2:
                empty = av.Packet(b"")
                empty.pts, empty.dts, empty.time_base = packet.pts, packet.dts, packet.time_base
                packet = empty
            packet.stream = stream
            target.mux(packet)
    return path


def test_zero_size_frames_yield_the_real_ones_then_a_coded_error(tmp_path: Path):
    video = zero_size_frames(tmp_path / "gaps.avi")
    frames, error = read_until_error(VideoSource(video))
    assert len(frames) == 20 and all(f.image.shape == (576, 768, 3) for f in frames)
    assert error.code == "corrupt_stream" and "20 of the 40" in error.message


# --- file sources -----------------------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET_LINE)
    return path


@pytest.mark.parametrize("form", ["traversal", "file-url"])
def test_a_path_outside_the_media_folder_is_refused_without_echoing_it(
    tmp_path: Path, secret: Path, form: str
):
    media = tmp_path / "media"
    media.mkdir()
    url = f"{media}/../etc/shadow" if form == "traversal" else f"file://{secret}"
    frames, error = read_until_error(VideoSource(url))
    assert frames == [] and error.code == "unsupported" and "not a video" in error.message
    assert "hash-that" not in error.message and "root:" not in error.message


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_pipes_and_devices_are_refused_before_opening(tmp_path: Path, kind: str):
    if kind == "fifo":
        path = tmp_path / "camera.mp4"
        os.mkfifo(path)  # nobody writes: opening it would block for ever
    else:
        path = Path("/dev/zero")
    frames, error = read_until_error(VideoSource(path))
    assert frames == [] and error.code == "unsupported" and "not a regular file" in error.message


def test_symlink_loops_and_specials_in_a_folder(tmp_path: Path):
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    frames, error = read_until_error(VideoSource(loop))
    assert frames == [] and error.code == "not_found"

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "self.mp4").symlink_to(folder / "self.mp4")
    os.mkfifo(folder / "pipe.mp4")
    (folder / "cycle").symlink_to(folder, target_is_directory=True)
    write_video([np.full((48, 64, 3), 90, np.uint8)] * 3, folder / "real.avi", 5, "mpeg4")
    played = list(VideoSource(folder).frames())
    assert len(played) == 3, "only the regular video file is played"


# --- the ingestor: huge frames, frames over the bus limit, broken files ---------------------


def ingest(path: Path, bus: MemoryBus, **camera) -> tuple[CameraIngestor, list]:
    config = CameraConfig(id="cam", url=str(path), pace="fast", fps=None, **camera)
    ingestor = CameraIngestor(config, bus, TopicNames(), stop=threading.Event())
    ingestor.run()
    reader = bus.consumer(["vigil.frames"], "test-reader")
    topic = FrameTopic()
    return ingestor, [topic.decode(record) for record in reader.poll(0.2, max_records=1000)]


def test_an_8k_camera_is_scaled_to_the_configured_width(tmp_path: Path):
    video = mjpeg_claiming(tmp_path / "8k.avi", 7680, 4320)
    ingestor, frames = ingest(
        video, MemoryBus(max_message_bytes=2_000_000), keyframe_interval=0.01, still_recheck=0
    )
    assert ingestor.error is None and ingestor.stats.published == 2
    images = [(meta, jpeg) for meta, jpeg in frames if jpeg is not None]
    assert len(images) == 2
    for meta, jpeg in images:
        assert (meta.size.width, meta.size.height) == (1920, 1080)
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (
            1080,
            1920,
            3,
        )


def test_frames_over_the_bus_limit_are_refused_loudly_and_the_stream_goes_on(
    tmp_path: Path, caplog
):
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    flat = np.full_like(noise, 90)
    video = write_video([noise, flat, noise, flat], tmp_path / "mixed.avi", 5, "mpeg4")
    bus = MemoryBus(max_message_bytes=10_000)
    ingestor, frames = ingest(video, bus, jpeg_quality=100, keyframe_interval=0.01, still_recheck=0)
    assert ingestor.error is None
    assert (ingestor.stats.oversize, ingestor.stats.published) == (2, 2), "noisy ones refused"
    refusals = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert len(refusals) == 2 and all("exceeds the 10,000 limit" in r for r in refusals)
    assert [(meta.sequence, jpeg is not None) for meta, jpeg in frames] == [
        (0, True),
        (1, True),
        (2, False),  # the end of stream still reaches tracking
    ]
    assert frames[-1][0].end_of_stream


def test_a_broken_file_ends_its_ingestor_with_a_coded_error(tmp_path: Path):
    ingestor, frames = ingest(zero_size_frames(tmp_path / "gaps.avi"), MemoryBus())
    assert isinstance(ingestor.error, VigilError) and ingestor.error.code == "corrupt_stream"
    assert sum(jpeg is not None for _, jpeg in frames) == ingestor.stats.published > 0
    assert frames[-1][0].end_of_stream, "open tracks are closed when a file breaks"


def test_a_capture_over_the_bus_limit_is_refused_at_the_producer_and_nothing_else_is_lost():
    from tests.support.synthetic_captures import face_capture

    bus = MemoryBus(max_message_bytes=100_000)
    producer, topic = bus.producer(), CaptureTopic()
    small = face_capture(None, track_id="1")
    huge = face_capture(None, track_id="2").model_copy(update={"crop_jpeg": "A" * 200_000})
    topic.send(producer, small)
    with pytest.raises(MessageTooLarge) as refused:
        topic.send(producer, huge)
    assert "vigil.captures" in str(refused.value) and "100,000 limit" in str(refused.value)
    assert "bytes exceeds" in str(refused.value)
    topic.send(producer, face_capture(None, track_id="3"))
    records = bus.consumer([topic.name], "reader").poll(0.2)
    assert [topic.decode(r).track_id for r in records] == ["1", "3"]


def test_the_capture_step_sends_an_oversized_capture_without_its_crop():
    from tests.support.synthetic_captures import face_capture

    bus = MemoryBus(max_message_bytes=100_000)
    producer, topic = bus.producer(), CaptureTopic()
    huge = face_capture(None, track_id="2").model_copy(update={"crop_jpeg": "A" * 200_000})
    sent = topic.send_fitting(producer, huge)
    assert sent.crop_jpeg is None and sent.message_id == huge.message_id
    [record] = bus.consumer([topic.name], "reader").poll(0.2)
    assert topic.decode(record).capture_id == huge.capture_id
