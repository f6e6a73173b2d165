"""Build `nanodet.int8.onnx`: NanoDet with int8 convolutions, for CPUs without AMX.

    python -m tools.convert.quantize_nanodet --out /tmp/vigil-conv/out/nanodet.int8.onnx

Why: on a CPU without AMX-BF16, NanoDet in f32 is the largest single cost of a busy
camera (one 416x416 call per analysed frame, 39-44 ms single-thread), and bf16 there is
slower still. Static int8 (VNNI) runs it in 24-26 ms (docs/performance.md).

The recipe, and what each choice was measured against (vtest frames, OpenVINO f32
reference on this repository's media, `bench/backend_agreement.py`):
- onnxruntime's static QDQ quantisation, per-channel int8 weights, uint8 activations,
  min-max ranges, **convolutions only**. Quantising every op type (the Pad, Concat,
  Resize and LeakyRelu between them too) wrecked the outputs (0 of 36 detections of a
  vtest frame kept).
- Kept in f32: the first convolution (it sees the raw normalised pixels; min IoU to
  the f32 boxes on vtest 0.50 -> 0.68 with it kept), the three head convolutions
  whose outputs are the class logits and box bins Vigil decodes itself, and the hidden
  convolutions of the stride-16 and -32 heads. With only the first four in f32 (16.0
  ms), one capture-harness scene lost IDF1 (one face passes in front of another,
  focused search: 0.974 -> 0.968); with all three heads' hidden convolutions in f32
  every figure held but NanoDet took 19.4 ms; with the two coarse ones, 16.5 ms and
  every scene's figures unchanged.
- Calibration pictures: every 16th frame of vtest.avi (50), every 10th of
  carphone_pristine.mp4 (10), and the still images of `tests/media/images/`. vtest is
  also where the capture harness checks persons: calibration only sets value ranges,
  and the conformance bounds are checked on the repository's pictures too.

Min-max calibration on fixed inputs is deterministic for one onnxruntime version; the
shipped file's sha256 is in `models/weights/manifest.json` and a rebuilt file is
checked by running both (`verify.py`), as for the other conversions.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tools.convert._common import guard_out, sha256_of

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO / "tests" / "media"
SOURCE = REPO / "models" / "weights" / "nanodet.onnx"
HEAD_CONVS = ("Conv__176", "Conv__178", "Conv__180")  # class + box maps per stride
# The hidden convolutions of the stride-16 and stride-32 heads (stride 8's is the
# costliest and stays int8): cheap, and with them in f32 the capture harness is unchanged.
COARSE_HEAD_CONVS = ("Conv__177", "Conv__179")
CALIBRATION_VIDEOS = (("vtest.avi", 16, 50), ("carphone_pristine.mp4", 10, 10))


def video_frames(path: Path, every: int, limit: int) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    index = kept = 0
    while kept < limit:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            kept += 1
            yield frame
        index += 1
    capture.release()


def calibration_pictures() -> list[np.ndarray]:
    pictures = [
        frame
        for name, every, limit in CALIBRATION_VIDEOS
        for frame in video_frames(MEDIA / "video" / name, every, limit)
    ]
    stills = (cv2.imread(str(p)) for p in sorted((MEDIA / "images").iterdir()))
    return pictures + [image for image in stills if image is not None]


def quantize(out: Path) -> str:
    """Write the int8 model to `out`; its sha256."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from vigil.models import object_detector

    graph = onnx.load(str(SOURCE)).graph
    input_name = graph.input[0].name
    first_conv = next(node.name for node in graph.node if node.op_type == "Conv")
    tensors = [
        object_detector.PIXELS.blob(object_detector.preprocess(picture))
        for picture in calibration_pictures()
    ]

    class Pictures(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter({input_name: tensor} for tensor in tensors)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory() as scratch:
        # The calibrator writes an augmented model beside its inputs: keep it out of the repo.
        staged = Path(scratch) / "nanodet.int8.onnx"
        quantize_static(
            str(SOURCE),
            str(staged),
            Pictures(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=[first_conv, *HEAD_CONVS, *COARSE_HEAD_CONVS],
        )
        data = staged.read_bytes()
    out.write_bytes(data)
    return sha256_of(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="write over an existing file")
    args = parser.parse_args()
    guard_out(args.out, args.force)
    print(f"{args.out}: sha256 {quantize(args.out)}")


if __name__ == "__main__":
    main()
