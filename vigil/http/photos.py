"""`MemberPhotos`: one small JPEG per enrolled member, shown beside its alerts in the console.

A feature group keeps features, never pictures (a watchlist must not become a photo
store by accident). The console still needs to show who a capture was matched to, so
`vigil serve` keeps, for each member enrolled through it, a thumbnail of the first photo
(at most `SIDE` px, re-encoded: no metadata kept) in a folder of its own, beside the
groups' Lite file (`vigil-groups.photos/`) or `./vigil-member-photos` for a server.
File names are digests of the group and person ids, so no id reaches the file system.
Members enrolled elsewhere (CLI, Celery) have no photo; the console says so.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2

from vigil.analysis.image_decoder import decode_image
from vigil.infra.files import write_atomic

SIDE = 256
QUALITY = 85


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def default_root(groups_uri: str) -> Path:
    """Beside a Lite file; in the working folder for a Milvus server."""
    if "://" in groups_uri:
        return Path("vigil-member-photos")
    return Path(groups_uri).with_suffix(".photos")


class MemberPhotos:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, group: str) -> Path:
        return self.root / digest(group)

    def path(self, group: str, person_id: str) -> Path:
        return self.folder(group) / f"{digest(person_id)}.jpg"

    def save(self, group: str, person_id: str, picture: bytes) -> None:
        """Keep a thumbnail of `picture` unless the member has one (its first photo stays)."""
        path = self.path(group, person_id)
        if path.exists():
            return
        image = decode_image(picture)
        scale = SIDE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, jpeg)

    def get(self, group: str, person_id: str) -> bytes | None:
        try:
            return self.path(group, person_id).read_bytes()
        except OSError:
            return None

    def remove(self, group: str, person_id: str) -> None:
        self.path(group, person_id).unlink(missing_ok=True)

    def remove_group(self, group: str) -> None:
        shutil.rmtree(self.folder(group), ignore_errors=True)

    def rename_group(self, group: str, new_name: str) -> None:
        old, new = self.folder(group), self.folder(new_name)
        if old.exists() and not new.exists():
            old.rename(new)
