"""Face clustering: pairwise quality, chaining safeguard, incremental assignment, real faces.

Synthetic identities come from `groups.synthetic.Population`; the real-model test
embeds the fixture photos of three people (and augmented views of them, the only
identity-labelled real faces available offline) through the project's analyzers.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.cluster_quality import pairwise_scores
from tests.support.synthetic_groups import Population
from tools.calibration.augment import AUGMENTS
from tools.calibration.data import embed_views, photo_sources
from vigil.cli.main import main
from vigil.cluster.assign import assign, empty_state, load_state, save_state
from vigil.cluster.graph import knn_graph
from vigil.cluster.service import cluster_faces
from vigil.cluster.sources import FaceCapture
from vigil.cluster.whispers import chinese_whispers, connected_components, merge_supported
from vigil.errors import ErrorCode, VigilError
from vigil.outputs.disk import DiskSink
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.cluster import ClusterMethod, ClusterOptions
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import FrameSize
from vigil.schemas.target import Quality, QualityParts, Target, TargetType

START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
MODEL = "face_resnet128@test"


def records(count: int, offset: int = 0, camera: str = "gate") -> list[FaceCapture]:
    """Captures one second apart, quality varying so the best shot is well defined."""
    return [
        FaceCapture(
            capture_id=f"{camera}/{offset + i}",
            camera_id=camera,
            captured_at=START + timedelta(seconds=offset + i),
            quality=round(0.3 + 0.6 * ((offset + i) * 7 % 11) / 10, 3),
            model=MODEL,
            crop_jpeg=None,
        )
        for i in range(count)
    ]


def population(people: int, per_person: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    who = np.repeat(np.arange(people), per_person)
    return Population.make(people, seed=seed).photos(who, np.random.default_rng(seed)), who


def labels_of(result, captures: list[FaceCapture]) -> np.ndarray:
    cluster_of = {m: n for n, c in enumerate(result.clusters) for m in c.members}
    return np.array([cluster_of[c.capture_id] for c in captures])


# -- quality metric -----------------------------------------------------------------------


def test_pairwise_scores_count_pairs_from_the_contingency_table():
    # clusters {a a b} {b b} {c}: claimed pairs 3 + 1, right ones a-a and b-b
    scores = pairwise_scores(np.array([0, 0, 0, 1, 1, 2]), np.array(list("aabbbc")))
    assert (scores.predicted_pairs, scores.true_pairs, scores.correct_pairs) == (4, 4, 2)
    assert scores.precision == pytest.approx(0.5) and scores.recall == pytest.approx(0.5)
    perfect = pairwise_scores(np.array([5, 5, 9]), np.array(["x", "x", "y"]))
    assert perfect.f1 == 1.0
    with pytest.raises(ValueError):
        pairwise_scores(np.zeros(3), np.zeros(4))


# -- synthetic identities -----------------------------------------------------------------


def test_synthetic_population_clusters_into_its_people():
    vectors, who = population(400, 6)
    captures = records(len(who))
    result = cluster_faces(captures, vectors)
    scores = pairwise_scores(labels_of(result, captures), who)
    assert scores.precision >= 0.98 and scores.recall >= 0.98, scores  # measured 1.0 / 1.0
    assert result.far == 1e-4 and result.distance == pytest.approx(0.486)
    biggest = result.clusters[0]
    assert biggest.size == len(biggest.members) >= max(c.size for c in result.clusters)
    rows = [int(m.split("/")[1]) for m in biggest.members]
    assert biggest.representative.quality == max(captures[r].quality for r in rows)
    assert biggest.first_seen == captures[rows[0]].captured_at


def bridged(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two people 30 photos each, and a chain of single captures from one to the other."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, 128)) * (1.4 / np.sqrt(128))
    spread = 0.2 / np.sqrt(128)
    people = [centre + rng.normal(size=(30, 128)) * spread for centre in (a, b)]
    steps = np.linspace(0, 1, 12)[1:-1, None]
    bridge = a + steps * (b - a) + rng.normal(size=(len(steps), 128)) * 0.01
    vectors = np.vstack([*people, bridge]).astype(np.float32)
    return vectors, np.array([0] * 30 + [1] * 30 + [2] * len(steps))


def test_a_bridge_of_captures_chains_components_but_not_whispers():
    vectors, who = bridged()
    graph = knn_graph(vectors, 0.486, k=16)
    components = connected_components(graph)
    assert components[0] == components[30], "the bridge must link the two people"
    labels = merge_supported(graph, chinese_whispers(graph))
    first, second = set(labels[who == 0]), set(labels[who == 1])
    assert len(first) == 1 and len(second) == 1 and first != second


def test_whispers_are_deterministic_for_a_seed():
    vectors, _ = population(100, 5)
    graph = knn_graph(vectors, 0.486)
    assert np.array_equal(chinese_whispers(graph, seed=7), chinese_whispers(graph, seed=7))


def test_components_method_and_min_size_are_honoured():
    vectors, who = population(50, 4)
    singles, _ = population(5, 1, seed=9)
    captures = records(len(who) + 5)
    result = cluster_faces(
        captures, np.vstack([vectors, singles * 3]), ClusterOptions(method="components", min_size=2)
    )
    assert result.method == ClusterMethod.COMPONENTS
    assert all(c.size >= 2 for c in result.clusters) and result.unlisted >= 5
    assert result.unlisted + sum(c.size for c in result.clusters) == len(captures)


def test_bad_input_is_refused_with_a_code():
    vectors, _ = population(3, 2)
    with pytest.raises(VigilError) as bad:
        cluster_faces(records(6), np.where(np.eye(6, 128) > 0, np.nan, vectors))
    assert bad.value.code == ErrorCode.INVALID_FEATURE
    with pytest.raises(VigilError) as short:
        cluster_faces(records(5), vectors)
    assert short.value.code == ErrorCode.INVALID_FEATURE
    with pytest.raises(VigilError) as twice:
        cluster_faces(records(3) + records(3), vectors)
    assert twice.value.code == ErrorCode.DUPLICATE
    empty = cluster_faces([], np.zeros((0, 128), np.float32))
    assert empty.clusters == [] and empty.captures == 0


# -- incremental assignment ---------------------------------------------------------------


def test_new_captures_join_their_clusters_and_newcomers_get_new_ones(tmp_path: Path):
    vectors, who = population(40, 6)
    captures = records(len(who))
    first = np.flatnonzero(np.arange(len(who)) % 6 < 3)  # 3 photos of each person
    later = np.flatnonzero((np.arange(len(who)) % 6 >= 3) & (who < 30))  # people 0-29 again
    newcomers = np.flatnonzero((np.arange(len(who)) % 6 >= 3) & (who >= 30))  # unseen before
    state = empty_state(ClusterOptions(), MODEL)
    start = assign(state, [captures[i] for i in first], vectors[first])
    assert start.created == 40 and all(a.new_cluster for a in start.assignments)
    path = tmp_path / "state.json"
    save_state(path, state)
    # people 30-39 are removed from the state so their later photos are newcomers
    cluster_of = {a.capture_id: a.cluster_id for a in start.assignments}
    gone = {cluster_of[captures[i].capture_id] for i in first if who[i] >= 30}
    state = load_state(path)
    state.entries = [e for e in state.entries if e.cluster.cluster_id not in gone]
    rows = np.concatenate([later, newcomers])
    result = assign(state, [captures[i] for i in rows], vectors[rows])
    placed = {a.capture_id: a for a in result.assignments}
    for i in later:
        hit = placed[captures[i].capture_id]
        assert not hit.new_cluster and hit.distance <= state.distance
        assert hit.cluster_id == cluster_of[captures[i - 3].capture_id]
    fresh = {placed[captures[i].capture_id].cluster_id for i in newcomers}
    assert all(placed[captures[i].capture_id].new_cluster for i in newcomers)
    assert len(fresh) == 10 and result.created == 10 and result.clusters == 40
    grown = next(e for e in state.entries if e.cluster.cluster_id == cluster_of["gate/0"])
    assert grown.cluster.size == 6 and grown.cluster.last_seen == captures[5].captured_at
    again = assign(state, [captures[i] for i in later], vectors[later])
    assert again.created == 0 and grown.cluster.size == 6  # known captures are not re-added


def test_a_state_file_that_is_not_a_state_is_refused(tmp_path: Path):
    path = tmp_path / "state.json"
    path.write_text('{"model": 3}')
    with pytest.raises(VigilError) as bad:
        load_state(path)
    assert bad.value.code == ErrorCode.INVALID_OPTIONS
    with pytest.raises(VigilError) as missing:
        load_state(tmp_path / "none.json")
    assert missing.value.code == ErrorCode.FILE_NOT_FOUND


# -- real models --------------------------------------------------------------------------

PEOPLE = ("obama", "biden", "grace_hopper")
VIEWS = ("crop_tight", "face48", "jpeg30", "dark", "rot-12", "flip_face48_jpeg30")


@pytest.fixture(scope="module")
def real_faces(images: Path) -> list:
    """Embedded faces of three people: their photos and a few augmented views of each."""
    augments = {name: AUGMENTS[name] for name in VIEWS}
    views = []
    for source in photo_sources(images):
        if source.identity in PEOPLE:
            found, missed = embed_views(dataclasses.replace(source, augments=augments))
            assert not missed, missed
            views += found
    return views


def face_capture(number: int, view, camera: str) -> Capture:
    """A capture as the pipeline would publish it, for a view of a real face."""
    crop = np.full((64, 64, 3), 40 * (number % 6), np.uint8)
    when = START + timedelta(minutes=number)
    score = 0.5 + 0.4 * (view.augment == "original")
    target = Target(
        id=0,
        type=TargetType.FACE,
        label="face",
        box={"x1": 0, "y1": 0, "x2": 64, "y2": 64},
        score=0.9,
        quality=Quality(
            score=score, parts=QualityParts(detector=0.9, size=1, sharpness=1, pose=1, edge=1)
        ),
        feature=Feature.from_vector(view.vector, "face_resnet128@dlib-resnet29-v1"),
    )
    return Capture(
        capture_id=f"{camera}/{number}",
        event=CaptureEvent.END,
        revision=1,
        camera_id=camera,
        track_id=str(number),
        target=target,
        crop_jpeg=base64.b64encode(cv2.imencode(".jpg", crop)[1].tobytes()).decode(),
        frame_index=number,
        source_time=float(number),
        captured_at=when,
        frame_size=FrameSize(width=640, height=480),
        first_seen=when,
        last_seen=when,
        frames_seen=3,
    )


def write_archive(views: list, folder: Path) -> dict[str, str]:
    """The views as captures of two cameras in a disk-sink archive; capture id -> identity."""
    sink = DiskSink(folder)
    who = {}
    for number, view in enumerate(views):
        capture = face_capture(number, view, camera=("lobby", "gate")[number % 2])
        sink.deliver(capture)
        who[capture.capture_id] = view.identity
    sink.close()
    return who


def test_real_faces_of_three_people_form_three_clusters(real_faces, tmp_path: Path):
    """Done-when: captures of three people (real models) -> three clusters, right members."""
    who = write_archive(real_faces, tmp_path / "archive")
    sheet = tmp_path / "sheet.jpg"
    code = main(
        ["cluster", "--captures", str(tmp_path / "archive"), "--json", "--sheet", str(sheet)]
    )
    assert code == 0
    assert cv2.imread(str(sheet)).shape[1] == 8 * 160
    # main() printed JSON; re-run the library call the CLI made to read the result
    from vigil.cluster.sources import archived_faces
    from vigil.schemas.cluster import ClusterRequest

    faces, vectors = archived_faces([tmp_path / "archive"], ClusterRequest())
    result = cluster_faces(faces, vectors, model="face_resnet128")
    assert len(result.clusters) == 3, [c.size for c in result.clusters]
    for cluster in result.clusters:
        identities = {who[m] for m in cluster.members}
        assert len(identities) == 1, identities
        assert cluster.cameras == ["gate", "lobby"]
        assert cluster.representative.quality == pytest.approx(0.9)
    sizes = sorted(c.size for c in result.clusters)
    assert sizes == sorted(sum(v == p for v in who.values()) for p in PEOPLE)


def test_cli_assigns_incrementally_and_reports_json(real_faces, tmp_path: Path, capsys):
    write_archive(real_faces, tmp_path / "archive")
    state = tmp_path / "state.json"
    split = START + timedelta(minutes=len(real_faces) // 2)
    archive = str(tmp_path / "archive")
    assert (
        main(
            [
                "cluster",
                "--captures",
                archive,
                "--until",
                split.isoformat(),
                "--assign-to",
                str(state),
                "--json",
            ]
        )
        == 0
    )
    first = json.loads(capsys.readouterr().out)
    assert main(["cluster", "--captures", archive, "--assign-to", str(state), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["created"] == 3 - first["created"] and second["clusters"] == 3
    assert main(["cluster", "--captures", str(tmp_path / "nothing"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "file_not_found"
    assert main(["cluster", "--captures", archive, "--since", "tomorrow"]) == 2


def test_cluster_task_runs_on_a_real_worker(celery_client, real_faces, tmp_path: Path):
    who = write_archive(real_faces, tmp_path / "archive")
    client = celery_client
    archive = {"archive": [str(tmp_path / "archive")]}
    result = client.send_task("vigil.cluster", args=[{"min_size": 2}], kwargs=archive)
    clusters = result.get(timeout=120, interval=0.01)["clusters"]
    assert len(clusters) == 3
    assert all(len({who[m] for m in c["members"]}) == 1 for c in clusters)
    bad = client.send_task("vigil.cluster", args=[{"k": 0}], kwargs=archive).get(timeout=60)
    assert bad["error"]["code"] == "invalid_options"


def test_captures_in_the_history_cluster_by_camera_and_window(real_faces, tmp_path: Path):
    from vigil.cluster.service import cluster_history
    from vigil.history.service import HistoryService
    from vigil.schemas.cluster import ClusterRequest

    captures = [
        face_capture(n, view, ("lobby", "gate")[n % 2]) for n, view in enumerate(real_faces)
    ]
    who = {c.capture_id: v.identity for c, v in zip(captures, real_faces, strict=True)}
    uri = tmp_path / "history.db"
    with HistoryService(uri) as history:
        history.add(captures)
    result = cluster_history(ClusterRequest(), str(uri))
    assert len(result.clusters) == 3 and result.captures == len(captures)
    assert all(len({who[m] for m in c.members}) == 1 for c in result.clusters)
    until = START + timedelta(minutes=9)
    lobby = cluster_history(ClusterRequest(cameras=["lobby"], until=until), str(uri))
    members = [m for c in lobby.clusters for m in c.members]
    assert sorted(members) == sorted(c.capture_id for c in captures[:10:2])
