"""The tools our exports are for open them: datumaro imports the CVAT, COCO, MOT and YOLO files and
finds the MOT file's tracks and boxes; label-studio-sdk accepts the Label Studio config and
predictions. Both run in their own cached venvs (they pin numpy/opencv versions that would break
ours, see consumer_venv.py) on the files that the README's pre-labeling command writes for the
bundled sample clip.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.io.export.consumer_venv import consumer_python, run_checker

pytestmark = pytest.mark.slow

CHECKERS = Path(__file__).resolve().parent / "consumers"
WIDTH, HEIGHT = 640, 360  # samples/shapes.mp4


@pytest.fixture(scope="module")
def exports(readme_sample_run: tuple[Path, list]) -> Path:
    """The files of the README's pre-labeling command on the sample (`--format
    cvat,labelstudio,yolo,coco,mot --save-frames`)."""
    folder, runs = readme_sample_run
    assert all(result.exit_code == 0 for _, result in runs), [r.output for _, r in runs]
    return folder / "masa_out"


def _mot(out: Path) -> dict[tuple[int, int], np.ndarray]:
    """(1-based frame, track id) -> box x, y, w, h, from our MOT txt."""
    rows = np.loadtxt(out / "shapes.txt", delimiter=",", ndmin=2)
    boxes = {(int(r[0]), int(r[1])): r[2:6] for r in rows}
    assert len(boxes) == len(rows) > 100
    return boxes


def _clipped(xywh: np.ndarray) -> np.ndarray:
    """The box clipped to the frame, as the YOLO and Label Studio files store it."""
    x1, y1 = np.clip(xywh[:2], 0, [WIDTH, HEIGHT])
    x2, y2 = np.clip(xywh[:2] + xywh[2:], 0, [WIDTH, HEIGHT])
    return np.array([x1, y1, x2 - x1, y2 - y1])


def _assert_same_boxes(rows: list[list[float]], mot: dict, clip: bool = False) -> None:
    found = Counter((int(r[0]), int(r[1])) for r in rows)
    assert len(rows) == len(mot) and set(found) == set(mot) and max(found.values()) == 1
    assert len({i for _, i in found}) == len({i for _, i in mot})  # the same tracks
    for r in rows:
        expected = mot[int(r[0]), int(r[1])]
        # corner files (CVAT) and MOT's x, y, w, h are each rounded to 2 decimals: a width from
        # two rounded corners may differ from the rounded width by up to 0.015
        np.testing.assert_allclose(r[2:6], _clipped(expected) if clip else expected, atol=0.02)


@pytest.fixture(scope="module")
def datumaro_boxes(exports: Path) -> dict[str, list]:
    python = consumer_python("datumaro", "1.13.12")
    return run_checker(python, CHECKERS / "check_datumaro.py", exports, "shapes")


@pytest.mark.parametrize("fmt", ["cvat", "coco", "mot", "yolo"])
def test_datumaro_finds_the_mot_files_tracks_and_boxes(
    fmt: str, datumaro_boxes: dict, exports: Path
) -> None:
    _assert_same_boxes(datumaro_boxes[fmt], _mot(exports), clip=fmt == "yolo")


def test_label_studio_sdk_accepts_the_predictions(exports: Path) -> None:
    python = consumer_python("label-studio-sdk", "2.1.2")
    checked = run_checker(
        python,
        CHECKERS / "check_labelstudio.py",
        exports / "shapes.labelstudio.json",
        exports / "shapes.labelstudio.xml",
        WIDTH,
        HEIGHT,
    )
    assert checked["labels"] == ["disc", "square"]
    mot = _mot(exports)
    _assert_same_boxes([row[:6] for row in checked["rows"]], mot, clip=True)
    # every frame of the clip is processed, so a keyframe is disabled exactly where its track is
    # absent from the next frame
    disabled = {(row[0], row[1]) for row in checked["rows"] if not row[6]}
    assert disabled == {(f, i) for f, i in mot if (f + 1, i) not in mot}
