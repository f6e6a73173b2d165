"""`vigil.captures`: one Capture per track event (new / update / end), keyed by camera."""

from __future__ import annotations

import logging

from vigil.infra import metrics
from vigil.infra.bus.base import MessageTooLarge, Producer
from vigil.infra.topics.json_topic import JsonTopic
from vigil.schemas.capture import Capture

log = logging.getLogger(__name__)


class CaptureTopic(JsonTopic[Capture]):
    def __init__(self, name: str = "vigil.captures") -> None:
        super().__init__(name, Capture)

    def send(self, producer: Producer, capture: Capture) -> None:
        self.publish(producer, capture, key=capture.camera_id)

    def send_fitting(self, producer: Producer, capture: Capture) -> Capture:
        """Send; a capture over the record limit goes without its crop. Returns what was sent.

        The crop is nearly all of a capture: without it the event still counts, whereas
        refusing it would crash the capture step, whose replay would meet the same refusal.
        """
        try:
            self.send(producer, capture)
        except MessageTooLarge as exc:
            log.warning("%s: %s; published without its crop", capture.capture_id, exc)
            metrics.CROPS_DROPPED.inc()
            capture = capture.model_copy(update={"crop_jpeg": None})
            self.send(producer, capture)
        return capture
