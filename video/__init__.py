"""Video input: open and decode camera streams and files, sample frames, find motion.

Example: `for frame in VideoSource("rtsp://cam-1/stream").frames(): ...` reconnects
forever; `source.stop()` from another thread ends the loop.
"""

from vigil.video.errors import VideoErrorCode, VideoSourceError
from vigil.video.motion import MotionDetector, MotionResult
from vigil.video.sampler import Sampler
from vigil.video.source import DecodedFrame, SourceState, VideoSource

__all__ = [
    "DecodedFrame",
    "MotionDetector",
    "MotionResult",
    "Sampler",
    "SourceState",
    "VideoErrorCode",
    "VideoSource",
    "VideoSourceError",
]
