"""`AlertBook`: the alerts a server heard of, and who acknowledged which.

The alerts topic holds alerts, not what operators did about them, so the console's
acknowledgements need a store of their own. It is small on purpose: the newest `keep`
alerts in memory (an update replaces its alert and keeps the acknowledgement), and every
change appended to one JSON Lines file (`$VIGIL_HTTP_ALERTS`, ./vigil-alerts.jsonl) so a
restarted `vigil serve` shows the same alerts, acknowledged or not. At open the file is
read back and, once it holds far more lines than alerts kept, rewritten with only those.
`path=None` keeps everything in memory (tests, throw-away servers).

Several `vigil serve` replicas each keep their own book: an acknowledgement made on one
is not seen on another (docs/security.md says so; put one console server per site).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from vigil.infra.files import write_atomic
from vigil.schemas.alert import Acknowledgement, Alert, AlertEntry, AlertPage
from vigil.schemas.errors import ErrorCode, VigilError

log = logging.getLogger(__name__)
KEEP = 1000  # alerts remembered
MAX_FILE_BYTES = 256 * 1024 * 1024  # a bigger file is not read back (it is not ours)


class AlertBook:
    def __init__(self, path: str | Path | None, keep: int = KEEP) -> None:
        self.path = Path(path) if path is not None else None
        self.keep = keep
        self._entries: OrderedDict[str, AlertEntry] = OrderedDict()  # oldest first
        self._lock = threading.Lock()
        if self.path is not None:
            self._load(self.path)

    # -- writes ---------------------------------------------------------------------------

    def add(self, alert: Alert) -> AlertEntry:
        """Remember an alert; a later revision replaces an earlier one, an older is ignored."""
        with self._lock:
            known = self._entries.get(alert.alert_id)
            if known is not None and known.alert.revision >= alert.revision:
                return known
            entry = AlertEntry(
                alert=alert, acknowledgement=known.acknowledgement if known else None
            )
            self._remember(entry)
            self._append({"alert": alert.model_dump(mode="json")})
            return entry

    def acknowledge(self, alert_id: str, by: str, note: str = "") -> AlertEntry:
        """Mark an alert dealt with (again: the latest acknowledgement counts)."""
        with self._lock:
            known = self._entries.get(alert_id)
            if known is None:
                raise VigilError(
                    ErrorCode.ALERT_NOT_FOUND, f"no alert {alert_id!r} among the recent ones"
                )
            ack = Acknowledgement(at=datetime.now(UTC), by=by, note=note)
            entry = known.model_copy(update={"acknowledgement": ack})
            self._entries[alert_id] = entry
            self._append({"ack": {"alert_id": alert_id, **ack.model_dump(mode="json")}})
            return entry

    # -- reads ----------------------------------------------------------------------------

    def recent(
        self,
        limit: int = 50,
        cameras: list[str] | None = None,
        unacknowledged: bool = False,
    ) -> AlertPage:
        """Newest first by decision time, within the filters."""
        with self._lock:
            entries = list(self._entries.values())
        chosen = [
            entry
            for entry in entries
            if (cameras is None or entry.alert.camera_id in cameras)
            and not (unacknowledged and entry.acknowledgement is not None)
        ]
        chosen.sort(key=lambda entry: entry.alert.captured_at, reverse=True)
        return AlertPage(alerts=chosen[:limit], total=len(chosen))

    # -- the file -------------------------------------------------------------------------

    def _remember(self, entry: AlertEntry) -> None:
        self._entries[entry.alert.alert_id] = entry
        self._entries.move_to_end(entry.alert.alert_id)
        while len(self._entries) > self.keep:
            self._entries.popitem(last=False)

    def _append(self, line: dict) -> None:
        if self.path is None:
            return
        try:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(line, separators=(",", ":")) + "\n")
        except OSError as exc:  # the book goes on in memory; the operator is told once per write
            log.error("cannot write the alert book %s: %s", self.path, exc)

    def _load(self, path: Path) -> None:
        try:
            if not path.exists():
                return
            if path.stat().st_size > MAX_FILE_BYTES:
                log.error("alert book %s is over %d bytes: not read", path, MAX_FILE_BYTES)
                return
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            log.error("cannot read the alert book %s: %s", path, exc)
            return
        skipped = 0
        for text in lines:
            try:
                line = json.loads(text)
                if "alert" in line:
                    alert = Alert.model_validate(line["alert"])
                    known = self._entries.get(alert.alert_id)
                    ack = known.acknowledgement if known else None
                    self._remember(AlertEntry(alert=alert, acknowledgement=ack))
                elif "ack" in line:
                    ack_line = dict(line["ack"])
                    alert_id = ack_line.pop("alert_id")
                    if alert_id in self._entries:
                        ack = Acknowledgement.model_validate(ack_line)
                        entry = self._entries[alert_id]
                        self._entries[alert_id] = entry.model_copy(update={"acknowledgement": ack})
            except (ValueError, TypeError, KeyError, ValidationError):
                skipped += 1
        if skipped:
            log.warning("alert book %s: %d unreadable lines skipped", path, skipped)
        if len(lines) > 2 * max(len(self._entries), 1) + 100:
            self._compact(path)

    def _compact(self, path: Path) -> None:
        """Rewrite the file with one alert line (and one ack line) per alert kept."""
        out: list[str] = []
        for alert_id, entry in self._entries.items():
            out.append(json.dumps({"alert": entry.alert.model_dump(mode="json")}))
            if entry.acknowledgement is not None:
                ack = {"alert_id": alert_id, **entry.acknowledgement.model_dump(mode="json")}
                out.append(json.dumps({"ack": ack}))
        try:
            write_atomic(path, "".join(line + "\n" for line in out).encode())
        except OSError as exc:
            log.error("cannot compact the alert book %s: %s", path, exc)
