"""Frame-task results are read once and then released: nothing piles up in Redis or the client.

The capture step keeps several frames' tasks in flight; Celery's Redis client buffers
result messages nobody waits on (celery#8166), which grew the capture step by ~30 MB/h.
"""

from __future__ import annotations

import time
from collections import deque

import cv2
import numpy as np
import pytest
import redis

from vigil.workers.resubmit import RetriedTask

pytestmark = pytest.mark.integration
IN_FLIGHT = 8
TASKS = 160


def test_pipelined_results_leave_no_buffered_message_and_no_stored_result(celery_client):
    _, encoded = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))
    jpeg = encoded.tobytes()
    backend = celery_client.backend
    waiting: deque[RetriedTask] = deque()
    read = []

    def submit() -> object:
        return celery_client.send_task("vigil.frame.detect", args=[jpeg, ["face"], 20])

    for _ in range(TASKS):
        waiting.append(RetriedTask(submit, name="detect"))
        if len(waiting) > IN_FLIGHT:
            task = waiting.popleft()
            assert task.get(timeout=60) == []
            read.append(task.result.id)
    while waiting:
        task = waiting.popleft()
        assert task.get(timeout=60) == []
        read.append(task.result.id)
    assert len(read) == TASKS
    # A late copy of the last results may still be on its way: the next read (as the
    # capture step's next frame would) drains the connection and sweeps it.
    time.sleep(0.5)
    assert RetriedTask(submit, name="detect").get(timeout=60) == []
    left = [task_id for task_id in read if task_id in backend._pending_messages]
    assert not left, f"{len(left)} late result messages were left buffered"
    store = redis.Redis.from_url(celery_client.conf.result_backend)
    assert not any(store.exists(backend.get_key_for_task(task_id)) for task_id in read)
