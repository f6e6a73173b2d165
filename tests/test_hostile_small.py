"""Issue 12, item 6, the smaller ones not covered by the other hostile test files:
`vigil analyze --annotate` to paths it cannot write, or to one name for two pictures
(f), and the permissions of history crop files (i)."""

from __future__ import annotations

import base64
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from vigil.cli.main import main
from vigil.history.crops import CropStore

pytestmark = pytest.mark.timeout(120)

JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(range(64)) + b"\xff\xd9").decode()


# --- f: --annotate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("out.txt", "extension '.txt' is no picture format"),
        ("out", "extension none is no picture format"),
        ("a-file/out.jpg", "cannot create the folder"),
    ],
    ids=["unknown-extension", "no-extension", "folder-is-a-file"],
)
def test_annotate_to_an_unusable_path_is_refused_before_analysis(
    images, tmp_path, capsys, target, said
):
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / target
    status = main(["analyze", str(images / "obama.jpg"), "--types", "face", "--annotate", str(out)])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "[invalid_options] --annotate" in err and said in err
    assert "Traceback" not in err and "cv2.error" not in err
    assert not out.exists()


def test_annotate_for_several_pictures_needs_a_folder(images, tmp_path, capsys):
    out = tmp_path / "exists.jpg"
    out.write_bytes(b"")
    pictures = [str(images / "obama.jpg"), str(images / "biden.jpg")]
    status = main(["analyze", *pictures, "--types", "face", "--annotate", str(out)])
    assert status == 2 and "several pictures need a folder" in capsys.readouterr().err


def test_an_unwritable_folder_is_refused(images, tmp_path, capsys):
    """/sys takes no new files, root or not: the probe must say so before any analysis."""
    out = Path("/sys") / "x.jpg"
    status = main(["analyze", str(images / "obama.jpg"), "--annotate", str(out)])
    assert status == 2 and "is not writable" in capsys.readouterr().err
    assert not out.exists()


def test_pictures_with_the_same_name_get_an_annotation_each(images, tmp_path, capsys):
    pictures = []
    for folder, source in (("a", "obama.jpg"), ("b", "biden.jpg")):
        (tmp_path / folder).mkdir()
        pictures.append(shutil.copy(images / source, tmp_path / folder / "face.jpg"))
    out = tmp_path / "annotated"
    status = main(["analyze", *map(str, pictures), "--types", "face", "--annotate", str(out)])
    capsys.readouterr()
    assert status == 0
    written = sorted(path.name for path in out.iterdir())
    assert written == ["face-1.annotated.jpg", "face-2.annotated.jpg"]
    shapes = {cv2.imread(str(out / name)).shape[:2] for name in written}
    assert len(shapes) == 2, "each picture has its own annotation"


def test_annotation_names_stay_unique_whatever_the_inputs_are_called():
    from vigil.cli.analyze import annotation_names

    sources = [Path("a/x.jpg"), Path("b/x.png"), Path("x-2.jpg"), Path("y.jpg"), Path("a/x.jpg")]
    names = annotation_names(sources)
    assert len(set(names)) == len(names)
    assert names[3] == "y.annotated.jpg"


# --- i: crop file permissions -------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[None]:
    saved = os.umask(0o022)
    os.umask(saved)
    yield
    os.umask(saved)


@pytest.mark.parametrize(("mask", "mode"), [(0o077, 0o600), (0o027, 0o640), (0o022, 0o644)])
def test_history_crops_take_the_umask_not_a_fixed_mode(tmp_path, umask, mask, mode):
    os.umask(mask)
    store = CropStore(tmp_path / "crops")
    store.write("cam-1/7", 1_717_171_717_000_000, JPEG)
    [path] = list((tmp_path / "crops").rglob("*.jpg"))
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert store.read("cam-1/7", 1_717_171_717_000_000) == JPEG
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left"
