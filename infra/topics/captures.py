"""`vigil.captures`: one Capture per track event (new / update / end), keyed by camera."""

from __future__ import annotations

from vigil.infra.bus.base import Producer
from vigil.infra.topics.json_topic import JsonTopic
from vigil.schemas.capture import Capture


class CaptureTopic(JsonTopic[Capture]):
    def __init__(self, name: str = "vigil.captures") -> None:
        super().__init__(name, Capture)

    def send(self, producer: Producer, capture: Capture) -> None:
        self.publish(producer, capture, key=capture.camera_id)
