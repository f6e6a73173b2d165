"""Bulk enrolment on real portraits: cleaning reasons, members, resume, CSV, pool, Celery, CLI."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.cli.main import main
from vigil.compare.enroll import enroll
from vigil.compare.enroll_analysis import choose_face
from vigil.compare.enroll_fanout import analyzer
from vigil.compare.enroll_inputs import list_inputs
from vigil.compare.enroll_report import read_records
from vigil.errors import ErrorCode, VigilError
from vigil.groups.service import GroupService
from vigil.infra import blobs
from vigil.infra.celery_app import create_app
from vigil.infra.settings import Settings
from vigil.schemas.compare import EnrollOptions, EnrollSummary, RejectReason
from vigil.schemas.geometry import Box
from vigil.schemas.target import Quality, QualityParts, Target, TargetType

MAX_SIDE = 640  # portraits are shrunk so the suite stays quick; faces stay > 100 px
EXPECTED = {  # file (relative) -> reason, None = enrolled
    "biden/biden.jpg": None,
    "grace/biden_again.jpg": RejectReason.CONFLICT,
    "grace/grace_hopper.jpg": None,
    "obama/obama.jpg": None,
    "obama/obama2.jpg": None,
    "obama/obama3.jpg": None,
    "obama/obama_partial_face.jpg": RejectReason.LOW_QUALITY,
    "obama/z_recompressed_copy.jpg": RejectReason.DUPLICATE,
    "blank.png": RejectReason.NO_FACE,
    "broken.jpg": RejectReason.UNREADABLE,
    "two_people.jpg": RejectReason.MULTIPLE_FACES,
}
FEATURES = {"obama": 3, "biden": 1, "grace": 1}


def shrunk(source: Path) -> np.ndarray:
    image = cv2.imread(str(source))
    scale = MAX_SIDE / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def write(path: Path, image: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality])


@pytest.fixture(scope="module")
def portraits(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per person plus the cases a real portrait folder holds."""
    root = tmp_path_factory.mktemp("portraits")
    for person, names in {
        "obama": ("obama", "obama2", "obama3", "obama_partial_face"),
        "biden": ("biden",),
        "grace": ("grace_hopper",),
    }.items():
        for name in names:
            write(root / person / f"{name}.jpg", shrunk(images / f"{name}.jpg"))
    write(root / "obama" / "z_recompressed_copy.jpg", cv2.imread(str(root / "obama/obama.jpg")), 80)
    shutil.copy(root / "biden" / "biden.jpg", root / "grace" / "biden_again.jpg")
    obama, biden = shrunk(images / "obama.jpg"), shrunk(images / "biden.jpg")
    biden = cv2.resize(
        biden, (round(biden.shape[1] * obama.shape[0] / biden.shape[0]), obama.shape[0])
    )
    write(root / "two_people.jpg", np.hstack([obama, biden]))
    cv2.imwrite(str(root / "blank.png"), np.full((320, 320, 3), 200, np.uint8))
    (root / "broken.jpg").write_bytes((root / "obama" / "obama2.jpg").read_bytes()[:3000])
    (root / "notes.txt").write_text("not a picture: ignored")
    return root


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GroupService]:
    with GroupService(tmp_path_factory.mktemp("store") / "groups.db") as opened:
        yield opened


@pytest.fixture(scope="module")
def first_run(portraits: Path, service: GroupService, tmp_path_factory) -> EnrollSummary:
    report = tmp_path_factory.mktemp("report") / "staff.jsonl"
    return enroll(portraits, "staff", service=service, report=report, create=True)


def verdicts(report: str | Path, root: Path) -> dict[str, RejectReason | None]:
    """Relative file -> reason (None: enrolled) of each file's newest verdict (skips aside)."""
    return {
        str(Path(r.file).relative_to(root)): r.reason
        for r in read_records(Path(report))
        if r.status != "skipped"
    }


def feature_counts(service: GroupService, group: str) -> dict[str, int]:
    page = service.list_members(group)
    return {member.person_id: len(member.features) for member in page.items}


# -- one run ------------------------------------------------------------------------------


def test_every_file_gets_its_verdict(first_run, portraits):
    assert verdicts(first_run.report, portraits) == EXPECTED
    assert first_run.files == len(EXPECTED)
    assert first_run.enrolled == 5 and first_run.rejected == 6 and first_run.skipped == 0
    assert first_run.reasons == {r: 1 for r in EXPECTED.values() if r is not None}
    assert first_run.members_created == 3 and first_run.remaining == 0


def test_members_hold_one_feature_per_accepted_photo(first_run, service, portraits):
    assert feature_counts(service, "staff") == FEATURES
    obama = service.get_member("staff", "obama")
    assert {Path(f.source).name for f in obama.features} == {
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
    }
    records = read_records(Path(first_run.report))
    enrolled_ids = {r.feature_id for r in records if r.feature_id}
    assert {f.feature_id for f in obama.features} <= enrolled_ids


def test_rejections_say_why(first_run):
    details = {Path(r.file).name: r.detail for r in read_records(Path(first_run.report))}
    assert "'biden'" in details["biden_again.jpg"]  # the conflict names the first owner
    assert "merged" in details["z_recompressed_copy.jpg"]
    assert details["broken.jpg"].startswith("corrupt_image")


def test_a_rerun_skips_everything_and_enrols_nothing(first_run, portraits, service):
    again = enroll(portraits, "staff", service=service, report=first_run.report)
    assert again.skipped == len(EXPECTED) and again.enrolled == again.rejected == 0
    assert feature_counts(service, "staff") == FEATURES
    assert all(
        r.status == "skipped" for r in read_records(Path(first_run.report))[-len(EXPECTED) :]
    )


# -- interruption ---------------------------------------------------------------------------


def test_an_interrupted_run_resumes_without_enrolling_twice(portraits, service, tmp_path):
    report = tmp_path / "resume.jsonl"
    part = enroll(
        portraits, "resume", service=service, report=report, create=True, max_files=5, workers=2
    )
    assert part.enrolled + part.rejected == 5 and part.remaining == len(EXPECTED) - 5
    # The process dies after a store write but while writing its journal line.
    lines = report.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["status"] == "enrolled"
    report.write_text("".join(lines[:-1]) + lines[-1][:40])
    rest = enroll(portraits, "resume", service=service, report=report)
    assert rest.skipped == 4 and rest.remaining == 0
    assert feature_counts(service, "resume") == FEATURES
    cut_file = Path(json.loads(lines[-1])["file"]).relative_to(portraits)
    assert verdicts(report, portraits) == {**EXPECTED, str(cut_file): RejectReason.DUPLICATE}


# -- CSV, CLI, Celery -----------------------------------------------------------------------


def test_csv_rows_carry_metadata_and_missing_files_are_reported(portraits, service, tmp_path):
    table = tmp_path / "people.csv"
    table.write_text(
        "path,person_id,site\n"
        f"{portraits / 'obama/obama2.jpg'},barack,HQ\n"
        f"{portraits / 'grace/grace_hopper.jpg'},grace,\n"
        "missing.jpg,nobody,HQ\n"
    )
    summary = enroll(table, "csv", service=service, report=tmp_path / "r.jsonl", create=True)
    assert summary.enrolled == 2 and summary.reasons == {RejectReason.UNREADABLE: 1}
    assert service.get_member("csv", "barack").metadata == {"site": "HQ"}
    assert service.get_member("csv", "grace").metadata == {}
    (tmp_path / "bad.csv").write_text("file,who\nx.jpg,y\n")
    with pytest.raises(VigilError) as caught:
        enroll(tmp_path / "bad.csv", "csv", service=service, report=tmp_path / "r2.jsonl")
    assert caught.value.code == ErrorCode.INVALID_OPTIONS


def test_cli_enrols_with_json_summary_and_refuses_a_missing_group(
    portraits, tmp_path, capsys, monkeypatch
):
    # `vigil` logs to stderr; that handler would outlive pytest's capture (Milvus logs at exit)
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)
    small = tmp_path / "small"
    shutil.copytree(portraits / "biden", small / "biden")
    shutil.copy(portraits / "blank.png", small / "blank.png")
    store, report = str(tmp_path / "cli.db"), str(tmp_path / "cli.jsonl")
    common = ["--store", store, "--report", report, "--no-progress", "--json"]
    assert main(["enroll", str(small), "--group", "cli", *common]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "group_not_found"
    assert main(["enroll", str(small), "--group", "cli", "--create", *common]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["enrolled"] == 1 and summary["reasons"] == {"no_face": 1}
    assert main(["enroll", str(small), "--group", "cli", "--duplicate-distance", "9", *common]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_options"


@pytest.mark.integration
def test_celery_workers_analyse_for_enrolment_and_compare(
    portraits, service, celery_client, tmp_path, monkeypatch
):
    client = celery_client
    small = tmp_path / "small"
    for name in ("obama/obama.jpg", "obama/obama2.jpg", "broken.jpg", "two_people.jpg"):
        (small / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(portraits / name, small / name)
    sent: list[object] = []
    send = client.send_task

    def recorded(name, args=None, **kwargs):  # what goes into the broker's messages
        sent.append((name, args[0]))
        return send(name, args=args, **kwargs)

    monkeypatch.setattr(client, "send_task", recorded)
    report = tmp_path / "c.jsonl"
    summary = enroll(small, "celery", service=service, report=report, create=True, celery=client)
    monkeypatch.undo()  # the compare below sends as usual
    assert verdicts(summary.report, small) == {
        name: EXPECTED[name]
        for name in ("obama/obama.jpg", "obama/obama2.jpg", "broken.jpg", "two_people.jpg")
    }
    assert feature_counts(service, "celery") == {"obama": 2}
    # four portraits, one task; the pictures went beside the message (a Redis broker),
    # and none is left there
    assert [(name, len(pictures)) for name, pictures in sent] == [("vigil.enroll.analyze_many", 4)]
    assert all(blobs.is_reference(picture) for picture in sent[0][1])
    store = blobs.store_for(client.conf)
    assert store is not None and not store.client.keys(blobs.PREFIX + "*")
    pictures = [(small / "obama" / name).read_bytes() for name in ("obama.jpg", "obama2.jpg")]
    compared = client.send_task("vigil.compare", args=pictures).get(timeout=120)
    assert compared["match"] is True and compared["a"]["kind"] == "picture"


@pytest.mark.integration
def test_a_blob_that_is_gone_or_foreign_rejects_the_portrait_and_nothing_else(celery_client):
    store = blobs.store_for(celery_client.conf)
    assert store is not None
    store.client.set("vigil:elsewhere", b"not a blob")  # another key of the same Redis
    huge = blobs.PREFIX + "2" * 32  # written by anyone who can write the broker
    store.client.setrange(huge, 51 * 1024 * 1024, b"x")
    try:
        answers = [
            celery_client.send_task("vigil.enroll.analyze", args=[reference, {}]).get(timeout=60)
            for reference in (
                {"blob": blobs.PREFIX + "0" * 32},
                {"blob": "vigil:elsewhere"},
                {"blob": huge},
            )
        ]
    finally:
        store.client.delete("vigil:elsewhere", huge)
    assert [answer["reason"] for answer in answers] == ["unreadable"] * 3
    assert "empty_input" in answers[0]["detail"] and "is gone" in answers[0]["detail"]
    assert "invalid_options" in answers[1]["detail"]
    assert answers[2]["detail"].startswith("image_too_large: blob of 53,477,377 bytes")
    good = (Path(__file__).parent / "media" / "images" / "obama.jpg").read_bytes()
    reference = store.put(good)  # the worker still serves the next portrait
    try:
        answer = celery_client.send_task("vigil.enroll.analyze", args=[reference, {}]).get(60)
        many = celery_client.send_task(  # in a batch, a gone blob rejects only itself
            "vigil.enroll.analyze_many", args=[[{"blob": blobs.PREFIX + "1" * 32}, reference]]
        ).get(timeout=60)
        refused = celery_client.send_task("vigil.enroll.analyze_many", args=[good]).get(60)
    finally:
        store.drop(reference)
    assert answer.get("reason") is None and answer["feature"]
    assert [entry.get("reason") for entry in many] == ["unreadable", None]
    assert many[1]["feature"] == answer["feature"]
    assert len(refused) == 1 and "images: a list of at most 64" in refused[0]["detail"]


@pytest.mark.integration
def test_an_enrolment_that_stops_early_leaves_no_blob_behind(celery_client):
    store = blobs.store_for(celery_client.conf)
    assert store is not None
    picture = (Path(__file__).parent / "media" / "images" / "obama.jpg").read_bytes()
    with analyzer(EnrollOptions(), workers=1, celery=celery_client) as submit:
        slots = [submit(picture) for _ in range(6)]  # one task of four sent, two waiting
        assert slots[0].get(timeout=60).feature is not None  # that task's answers are in
        slots += [submit(picture) for _ in range(3)]  # a second task sent, one waiting
        assert len(store.client.keys(blobs.PREFIX + "*")) == 5
    assert store.client.keys(blobs.PREFIX + "*") == []  # as after Ctrl-C


@pytest.mark.integration
def test_workers_that_share_the_files_are_sent_paths_inside_their_roots(
    portraits, service, celery_client, tmp_path
):
    names = ("obama/obama.jpg", "broken.jpg", "two_people.jpg")
    small = tmp_path / "common_disk"  # inside the worker's VIGIL_TASK_FILE_ROOTS
    outside = Path(tempfile.mkdtemp(prefix="vigil-outside-roots-"))  # outside them
    try:
        for folder in (small, outside):
            for name in names:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(portraits / name, folder / name)
        common = dict(service=service, create=True, celery=celery_client, shared_files=True)
        summary = enroll(small, "on-disk", report=tmp_path / "s.jsonl", **common)
        assert verdicts(summary.report, small) == {name: EXPECTED[name] for name in names}
        refused = enroll(outside, "outside", report=tmp_path / "o.jsonl", **common)
        assert set(verdicts(refused.report, outside).values()) == {RejectReason.UNREADABLE}
        assert feature_counts(service, "on-disk") == {"obama": 1}
    finally:
        shutil.rmtree(outside)


def test_celery_without_a_broker_runs_the_tasks_in_process(portraits, service, tmp_path):
    eager = create_app(Settings())  # memory:// broker: eager, as in `vigil demo`
    small = tmp_path / "small"
    shutil.copytree(portraits / "biden", small / "biden")
    shutil.copy(portraits / "blank.png", small / "blank.png")
    summary = enroll(
        small, "eager", service=service, report=tmp_path / "e.jsonl", create=True, celery=eager
    )
    assert verdicts(summary.report, small) == {
        "biden/biden.jpg": None,
        "blank.png": RejectReason.NO_FACE,
    }


# -- the pure parts -------------------------------------------------------------------------


def face(side: float, quality: float = 0.9) -> Target:
    parts = QualityParts(detector=1, size=1, sharpness=1, pose=1, edge=1)
    return Target(
        id=0,
        type=TargetType.FACE,
        label="face",
        box=Box(x1=0, y1=0, x2=side, y2=side),
        score=0.9,
        quality=Quality(score=quality, parts=parts),
    )


@pytest.mark.parametrize(
    ("faces", "reason"),
    [
        ([face(200)], None),
        ([face(200), face(60)], None),  # a passer-by behind the subject
        ([face(200), face(150)], RejectReason.MULTIPLE_FACES),
        ([face(200), face(30)], None),  # the second face is under min_size
        ([face(30)], RejectReason.TOO_SMALL),
        ([face(200, quality=0.1)], RejectReason.LOW_QUALITY),
    ],
    ids=["one", "passer-by", "two-alike", "tiny-second", "too-small", "low-quality"],
)
def test_exactly_one_usable_face_rule(faces, reason):
    analysis = choose_face(faces, EnrollOptions(min_size=40, min_quality=0.3))
    assert analysis.reason == reason
    assert analysis.faces == len(faces)


def test_folder_layout_gives_person_ids(tmp_path):
    for name in (
        "alice/1.jpg",
        "alice/deeper/2.png",
        "bob.JPG",
        ".hidden/x.jpg",
        "alice/.x.jpg",
        "readme.md",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = {str(i.path.relative_to(tmp_path)): i.person_id for i in list_inputs(tmp_path)}
    assert found == {"alice/1.jpg": "alice", "alice/deeper/2.png": "alice", "bob.JPG": "bob"}
