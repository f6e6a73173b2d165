"""The stores one server holds: the feature groups and the capture history, opened on first use.

Opening lazily keeps `vigil serve` quick to start and lets /healthz answer while a
Milvus server is still coming up; a store that fails to open is tried again on the
next request (its `store_unavailable` becomes a 503 meanwhile). /readyz opens both.
"""

from __future__ import annotations

import threading
from pathlib import Path

from vigil.groups.service import GroupService
from vigil.groups.service import default_uri as default_groups_uri
from vigil.history.service import HistoryService
from vigil.history.service import default_uri as default_history_uri


class Stores:
    def __init__(
        self,
        groups_uri: str | Path | None = None,
        history_uri: str | Path | None = None,
        history_crops: str | Path | None = None,
    ) -> None:
        self.groups_uri = str(groups_uri or default_groups_uri())
        self.history_uri = str(history_uri or default_history_uri())
        self.history_crops = history_crops
        self._lock = threading.Lock()
        self._groups: GroupService | None = None
        self._history: HistoryService | None = None

    @property
    def groups(self) -> GroupService:
        with self._lock:
            if self._groups is None:
                self._groups = GroupService(self.groups_uri)
            return self._groups

    @property
    def history(self) -> HistoryService:
        with self._lock:
            if self._history is None:
                self._history = HistoryService(self.history_uri, crops=self.history_crops)
            return self._history

    def close(self) -> None:
        with self._lock:
            for store in (self._groups, self._history):
                if store is not None:
                    store.close()
            self._groups = self._history = None
