"""SOURCE arguments expanded into videos: what is one video, what is a batch, output names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from masa.errors import InputError
from masa.io.sources import VideoItem, expand_sources, find_detections
from tests.batch_helpers import SAMPLE


def _touch_images(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:06d}.jpg").write_bytes(b"")
    return folder


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    """videos/a.mp4, videos/cam1/clip10.mp4, videos/cam1/clip2.avi, videos/seqs/S1/img1/*.jpg,
    videos/.hidden/x.mp4, videos/out/old.mp4 (an earlier run's outputs), videos/notes.md."""
    root = tmp_path / "videos"
    (root / "cam1").mkdir(parents=True)
    shutil.copy(SAMPLE, root / "a.mp4")
    shutil.copy(SAMPLE, root / "cam1" / "clip10.mp4")
    shutil.copy(SAMPLE, root / "cam1" / "clip2.avi")
    _touch_images(root / "seqs" / "S1" / "img1")
    (root / ".hidden").mkdir()
    shutil.copy(SAMPLE, root / ".hidden" / "x.mp4")
    (root / "out").mkdir()
    shutil.copy(SAMPLE, root / "out" / "old.mp4")
    (root / "notes.md").write_text("not a video")
    return root


def test_one_file_or_image_folder_is_one_video(tmp_path: Path) -> None:
    assert expand_sources([str(SAMPLE)]).items == (VideoItem(str(SAMPLE), "shapes", "file"),)
    assert not expand_sources([str(SAMPLE)]).many
    seq = _touch_images(tmp_path / "PETS" / "img1")
    listed = expand_sources([str(seq)])
    assert not listed.many and listed.items == (VideoItem(str(seq), "PETS", "images"),)
    pattern = str(seq / "*.jpg")
    assert expand_sources([pattern]).items == (VideoItem(pattern, "PETS", "images"),)
    missing = str(tmp_path / "missing.mp4")  # fails when opened, with the usual one-line error
    assert expand_sources([missing]).items == (VideoItem(missing, "missing", "file"),)


def test_folder_of_videos_is_searched_recursively(library: Path) -> None:
    listed = expand_sources([str(library)], exclude=[library / "out"])
    assert listed.many
    assert [(i.name, i.kind) for i in listed.items] == [
        ("a", "file"),
        ("cam1/clip2", "file"),
        ("cam1/clip10", "file"),
        ("seqs/S1", "images"),
    ]
    assert listed.items[1].source == str(library / "cam1" / "clip2.avi")


def test_list_file_glob_and_several_arguments_are_batches(library: Path, tmp_path: Path) -> None:
    listing = library / "list.txt"
    listing.write_text(
        "# clips to label\na.mp4\n\ncam1/clip10.mp4\nrtsp://cam.local:554/live/front\n"
    )
    listed = expand_sources([str(listing)])
    assert listed.many
    assert [(i.source, i.name, i.kind) for i in listed.items] == [
        (str(library / "a.mp4"), "a", "file"),
        (str(library / "cam1" / "clip10.mp4"), "clip10", "file"),
        ("rtsp://cam.local:554/live/front", "front", "stream"),
    ]
    globbed = expand_sources([str(library / "cam1" / "*")])
    assert globbed.many and [i.name for i in globbed.items] == ["clip2", "clip10"]
    two = expand_sources([str(library / "a.mp4"), str(library / "cam1" / "clip2.avi")])
    assert two.many and [i.name for i in two.items] == ["a", "clip2"]
    assert len(expand_sources([str(library / "a.mp4")] * 2).items) == 1  # the same video once


def test_webcam_index_and_urls_are_kept_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert expand_sources(["0"]).items == (VideoItem("0", "webcam0", "webcam"),)
    url = "rtsp://user:pw@10.0.0.5:554/stream1?tcp"
    assert expand_sources([url]).items == (VideoItem(url, "stream1", "stream"),)
    assert expand_sources(["https://example.org/"]).items[0].name == "example.org"
    (tmp_path / "0").write_bytes(b"")  # a file named 0 is that file
    assert expand_sources(["0"]).items[0].kind == "file"
    with pytest.raises(InputError, match="unsupported URL scheme"):
        expand_sources(["gopher://host/x"])


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty_folder", "no videos"),
        ("empty_glob", "matches nothing"),
        ("empty_list", "empty"),
        ("same_names", "would both write outputs named 'a'"),
    ],
)
def test_bad_sources(case: str, message: str, library: Path, tmp_path: Path) -> None:
    args = {
        "empty_folder": [str(tmp_path / "empty")],
        "empty_glob": [str(tmp_path / "*.mkv")],
        "empty_list": [str(tmp_path / "list.txt")],
        "same_names": [str(library / "a.mp4"), str(tmp_path / "a.mp4")],
    }[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "list.txt").write_text("# nothing\n")
    shutil.copy(SAMPLE, tmp_path / "a.mp4")
    with pytest.raises(InputError, match=message):
        expand_sources(args)


def test_detections_are_found_by_video_name(tmp_path: Path) -> None:
    dets = tmp_path / "dets"
    (dets / "cam1").mkdir(parents=True)
    (dets / "cam1" / "clip2.txt").write_text("")
    (dets / "S1" / "det").mkdir(parents=True)
    (dets / "S1" / "det" / "det.txt").write_text("")
    (dets / "b.json").write_text("[]")
    assert (
        find_detections(dets, VideoItem("x/cam1/clip2.avi", "cam1/clip2", "file"))
        == dets / "cam1" / "clip2.txt"
    )
    assert (
        find_detections(dets, VideoItem("x/S1/img1", "seqs/S1", "images"))
        == dets / "S1" / "det" / "det.txt"
    )
    assert find_detections(dets, VideoItem("b.mp4", "b", "file")) == dets / "b.json"
    with pytest.raises(InputError, match="no detections file for c"):
        find_detections(dets, VideoItem("c.mp4", "c", "file"))
