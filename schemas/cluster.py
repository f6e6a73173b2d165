"""Contracts of face clustering (`vigil.cluster` task, `vigil cluster` CLI).

A request names the captures (cameras, time window) and how strict to be; the
result groups them into identities, each with its best shot and every member.
`ClusterState` is what incremental assignment keeps between runs: per cluster a
few exemplar features spanning its spread, so state stays small as clusters grow.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from vigil.schemas.base import VigilModel
from vigil.schemas.feature import Feature
from vigil.schemas.history import When

CLUSTER_FAR = 1e-4  # measured: pairwise F1 1.0 on the real fixture faces (README, Clustering)


class ClusterMethod(StrEnum):
    WHISPERS = "whispers"  # Chinese whispers + merge of well-linked sub-clusters (default)
    COMPONENTS = "components"  # connected components: the baseline, prone to chaining


class ClusterOptions(VigilModel):
    """How captures are linked and grouped (see `vigil.cluster.graph`, `.whispers`)."""

    far: float = Field(default=CLUSTER_FAR, gt=0, lt=1, description="false-accept rate of a link")
    threshold: float | None = Field(
        default=None, gt=0, le=4, description="L2 distance of a link; overrides `far`"
    )
    k: int = Field(default=32, ge=1, le=256, description="nearest neighbours linked per capture")
    method: ClusterMethod = ClusterMethod.WHISPERS
    mutual: bool = Field(default=False, description="link only mutual k-nearest neighbours")
    min_size: int = Field(default=1, ge=1, description="smaller clusters are not listed")


class ClusterRequest(ClusterOptions):
    """Which face captures to cluster: every given condition must hold."""

    cameras: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    since: When | None = Field(default=None, description="inclusive; ISO-8601 or an age (1h)")
    until: When | None = Field(default=None, description="inclusive; ISO-8601 or an age")

    @model_validator(mode="after")
    def _window(self) -> ClusterRequest:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self

    def options(self) -> ClusterOptions:
        return ClusterOptions.model_validate(
            self.model_dump(include=set(ClusterOptions.model_fields))
        )


class ClusterMember(VigilModel):
    capture_id: str
    camera_id: str
    captured_at: datetime
    quality: float = Field(ge=0, le=1)


class Cluster(VigilModel):
    """One identity: its best shot (highest quality member) and all member captures."""

    cluster_id: str = Field(description="stable: derived from the earliest member's capture id")
    size: int = Field(ge=1)
    representative: ClusterMember
    members: list[str] = Field(description="capture ids, oldest first")
    cameras: list[str] = Field(description="cameras it was seen on, sorted")
    first_seen: datetime
    last_seen: datetime


class ClusterResult(VigilModel):
    """Clusters largest first; captures in clusters under `min_size` are only counted."""

    clusters: list[Cluster] = Field(default_factory=list)
    captures: int = Field(ge=0, description="face captures clustered")
    unlisted: int = Field(default=0, ge=0, description="captures in clusters under min_size")
    edges: int = Field(default=0, ge=0, description="links in the similarity graph")
    method: ClusterMethod
    distance: float = Field(gt=0, description="L2 distance of a link")
    far: float | None = Field(default=None, description="calibrated FAR of `distance`; None if set")
    model: str
    graph_ms: float = Field(default=0, ge=0)
    cluster_ms: float = Field(default=0, ge=0)


class Exemplar(VigilModel):
    capture_id: str
    feature: Feature


class ClusterEntry(VigilModel):
    """A cluster as kept for incremental assignment."""

    cluster: Cluster
    exemplars: list[Exemplar] = Field(min_length=1)


class ClusterState(VigilModel):
    """Everything `vigil.cluster.assign` needs to place new captures; saved as JSON."""

    model: str
    distance: float = Field(gt=0, description="L2 distance within which a capture joins")
    entries: list[ClusterEntry] = Field(default_factory=list)


class Assignment(VigilModel):
    capture_id: str
    cluster_id: str
    new_cluster: bool = Field(description="True when no existing cluster was close enough")
    distance: float | None = Field(default=None, ge=0, description="to the nearest exemplar")


class AssignResult(VigilModel):
    assignments: list[Assignment]
    clusters: int = Field(ge=0, description="clusters in the state after assignment")
    created: int = Field(ge=0, description="new clusters")
