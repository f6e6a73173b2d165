"""The group's say on one analysed portrait: enrol it, or refuse it as a duplicate or a conflict.

Near-duplicates are found by searching the group itself (not a list kept by
the job), so the rule also holds across runs and after an interruption:
- duplicate: a face within `duplicate_distance` of one already enrolled for the
  same person is the same photo (resized or re-encoded); it is merged, i.e. not
  added again.
- conflict: the same photo already enrolled for another person. The first
  enrolment stands and the later file is refused: one photo cannot prove two
  identities, and which one is right needs a person to decide.
The default 0.15 sits between re-encodings of one photo (L2 0.09-0.2 after
JPEG, resizing or cropping) and two photos of one person (0.25 and more on the
fixtures); see the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from vigil.compare.enroll_inputs import EnrollItem
from vigil.groups.service import GroupService, NewMember
from vigil.schemas.compare import EnrollStatus, FileAnalysis, RejectReason
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature

WRITE_BATCH = 16  # enrolments per store write: ~0.3 s of files at 50/s
K = TypeVar("K")
REFUSED_CODES = frozenset(
    {ErrorCode.INVALID_OPTIONS, ErrorCode.INVALID_FEATURE, ErrorCode.FEATURE_MISMATCH}
)


@dataclass(frozen=True)
class Placement:
    status: EnrollStatus
    reason: RejectReason | None = None
    detail: str = ""
    feature_id: str | None = None
    created: bool = False  # this file created the member


def refusal(reason: RejectReason, detail: str) -> Placement:
    return Placement(EnrollStatus.REJECTED, reason, detail)


def near_copy(
    service: GroupService, group: str, person_id: str, feature: Feature, limit: float
) -> Placement | None:
    """A conflict or duplicate refusal when the group already holds this photo.

    The two nearest members suffice: if the person's own match is not among
    them, two other members are nearer still, which is a conflict anyway.
    """
    close = [hit for hit in service.search(feature, [group], k=2).hits if hit.distance < limit]
    other = next((hit for hit in close if hit.person_id != person_id), None)
    if other is not None:
        return refusal(
            RejectReason.CONFLICT,
            f"same photo as member {other.person_id!r} (feature {other.feature_id},"
            f" L2 {other.distance:.3f}); not enrolled under {person_id!r}",
        )
    own = next((hit for hit in close if hit.person_id == person_id), None)
    if own is not None:
        return refusal(
            RejectReason.DUPLICATE,
            f"near-duplicate of feature {own.feature_id} (L2 {own.distance:.3f}): merged,"
            " not added again",
        )
    return None


def feature_ids(service: GroupService, group: str, person_id: str) -> set[str]:
    try:
        return {f.feature_id for f in service.get_member(group, person_id).features}
    except VigilError as exc:
        if exc.code == ErrorCode.MEMBER_NOT_FOUND:
            return set()
        raise


@dataclass
class Queued(Generic[K]):
    """An analysed file in input order: its placement, or None while its write waits."""

    key: K
    item: EnrollItem
    analysis: FileAnalysis
    placement: Placement | None = None


class Placer(Generic[K]):
    """The group's say on each analysed portrait, with the enrolments written `batch` at a time.

    Why batches: each store write costs the enrolling process about 1.4 ms of CPU
    whatever its size (two per enrolment: the group's change journal and the rows),
    which on a 2-core box with two Celery workers made this process the bottleneck.
    The decisions stay those of placing each file in turn: a file that could be a
    near-copy of one waiting to be written, or that adds to a person waiting, first
    has the waiting ones written, so the group search sees them. `offer` and `flush`
    return (key, placement) in the order the files were offered; the caller records
    them, so a file is journalled only once its features are stored.
    """

    def __init__(
        self, service: GroupService, group: str, limit: float, batch: int = WRITE_BATCH
    ) -> None:
        self.service, self.group, self.limit, self.batch = service, group, limit, batch
        self.queue: list[Queued[K]] = []

    def offer(self, key: K, item: EnrollItem, analysis: FileAnalysis) -> list[tuple[K, Placement]]:
        """Decide one analysed file; the placements now final, in input order."""
        done: list[tuple[K, Placement]] = []
        queued = Queued(key, item, analysis)
        if analysis.reason is not None:
            queued.placement = refusal(analysis.reason, analysis.detail)
        else:
            assert analysis.feature is not None
            if self._near_waiting(item.person_id, analysis.feature):
                done = self.flush()
            queued.placement = self._checked(item, analysis.feature)
        self.queue.append(queued)
        waiting = sum(entry.placement is None for entry in self.queue)
        if waiting == 0 or waiting >= self.batch:
            done += self.flush()
        return done

    def flush(self) -> list[tuple[K, Placement]]:
        """Write the waiting enrolments; every queued file's placement, in input order."""
        queue, self.queue = self.queue, []
        waiting = [entry for entry in queue if entry.placement is None]
        for entry, placement in zip(waiting, self._write(waiting), strict=True):
            entry.placement = placement
        return [(entry.key, entry.placement) for entry in queue if entry.placement is not None]

    def _near_waiting(self, person_id: str, feature: Feature) -> bool:
        """Whether a waiting enrolment is this person or within the near-copy distance."""
        vector = feature.vector()
        for entry in self.queue:
            if entry.placement is not None:
                continue
            assert entry.analysis.feature is not None
            if entry.item.person_id == person_id:
                return True
            other = entry.analysis.feature.vector()
            if other.shape == vector.shape and np.linalg.norm(other - vector) < self.limit:
                return True
        return False

    def _checked(self, item: EnrollItem, feature: Feature) -> Placement | None:
        """A refusal when the group already holds this photo; None: to be written."""
        try:
            return near_copy(self.service, self.group, item.person_id, feature, self.limit)
        except VigilError as exc:
            if exc.code in REFUSED_CODES:  # another model's group
                return refusal(RejectReason.REFUSED, exc.message)
            raise

    def _write(self, waiting: list[Queued[K]]) -> list[Placement]:
        """Enrol the waiting files in one store write; a refused batch is retried file by
        file, so the refusal (a bad person id or metadata) lands on its own file."""
        if not waiting:
            return []
        try:
            before = [feature_ids(self.service, self.group, e.item.person_id) for e in waiting]
            members = self.service.add_members(self.group, [new_member(e) for e in waiting])
        except VigilError as exc:
            if exc.code not in REFUSED_CODES:
                raise
            if len(waiting) == 1:
                return [refusal(RejectReason.REFUSED, exc.message)]
            return [placement for entry in waiting for placement in self._write([entry])]
        placements = []
        for member, earlier in zip(members, before, strict=True):
            (new_id,) = {f.feature_id for f in member.features} - earlier
            placements.append(
                Placement(EnrollStatus.ENROLLED, feature_id=new_id, created=not earlier)
            )
        return placements


def new_member(entry: Queued[Any]) -> NewMember:
    analysis, item = entry.analysis, entry.item
    assert analysis.feature is not None
    return NewMember(
        item.person_id,
        [analysis.feature],
        metadata=item.metadata or None,
        sources=[str(item.path)],
        qualities=[analysis.quality],
    )
