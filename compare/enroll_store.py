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

from vigil.compare.enroll_inputs import EnrollItem
from vigil.groups.service import GroupService
from vigil.schemas.compare import EnrollStatus, FileAnalysis, RejectReason
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature

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


def place(
    service: GroupService, group: str, item: EnrollItem, analysis: FileAnalysis, limit: float
) -> Placement:
    """Enrol the analysed face unless the group already holds the photo."""
    assert analysis.feature is not None
    try:
        found = near_copy(service, group, item.person_id, analysis.feature, limit)
        if found is not None:
            return found
        before = feature_ids(service, group, item.person_id)
        member = service.add_member(
            group,
            item.person_id,
            [analysis.feature],
            metadata=item.metadata or None,
            sources=[str(item.path)],
            qualities=[analysis.quality],
        )
    except VigilError as exc:
        if exc.code in REFUSED_CODES:  # a bad person id or metadata, another model's group
            return refusal(RejectReason.REFUSED, exc.message)
        raise
    (new_id,) = {f.feature_id for f in member.features} - before
    return Placement(EnrollStatus.ENROLLED, feature_id=new_id, created=not before)
