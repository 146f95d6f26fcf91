"""Runs in a separate venv with datumaro: imports masa's exports with datumaro's own importers and
prints, per format, every box datumaro found as `[frame (1-based), track id, x, y, w, h]`.

Usage: python check_datumaro.py OUT_DIR NAME
(OUT_DIR holds NAME.cvat.xml, NAME.coco.json, NAME.txt and NAME_yolo/.)

Not a test module: the test in ../test_consumers.py runs it with the consumer venv's python.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset


def _boxes(dataset):
    for item in dataset:
        for ann in item.annotations:
            if ann.type == AnnotationType.bbox:
                yield item, ann


def cvat(out: Path, name: str) -> list:
    dataset = Dataset.import_from(str(out / f"{name}.cvat.xml"), "cvat")
    return [
        [item.attributes["frame"] + 1, ann.attributes["track_id"], *ann.get_bbox()]
        for item, ann in _boxes(dataset)
        if not ann.attributes["outside"]  # the rows that end a track are not boxes
    ]


def _import_as(source: Path, layout: str, fmt: str, folders: tuple[str, ...] = ()) -> list:
    """Imports `source` copied unchanged to `layout` (the path the importer looks for) in a
    temporary folder that also has the (empty) `folders` it requires; returns (item, box) pairs."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / layout
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
        for folder in folders:
            (Path(tmp) / folder).mkdir()
        return list(_boxes(Dataset.import_from(tmp, fmt)))


def coco(out: Path, name: str) -> list:
    # datumaro's COCO importer reads annotations/instances_<subset>.json beside an images/ folder
    boxes = _import_as(
        out / f"{name}.coco.json",
        "annotations/instances_default.json",
        "coco_instances",
        folders=("images",),
    )
    # image id = frame_idx + 1 (datumaro keeps it as the item's "id" attribute)
    return [
        [item.attributes["id"], ann.attributes["track_id"], *ann.get_bbox()] for item, ann in boxes
    ]


def mot(out: Path, name: str) -> list:
    # datumaro's mot_seq importer reads SEQ/gt/gt.txt
    boxes = _import_as(out / f"{name}.txt", f"{name}/gt/gt.txt", "mot_seq")
    return [[int(item.id), ann.attributes["track_id"], *ann.get_bbox()] for item, ann in boxes]


def yolo(out: Path, name: str) -> list:
    folder = out / f"{name}_yolo"
    dataset = Dataset.import_from(str(folder), "yolo")
    rows = []
    for item, ann in _boxes(dataset):
        # the track id is the last column of the same line (ann.id is the line number) in tracks/
        line = (folder / "tracks" / item.subset / f"{item.id}.txt").read_text().splitlines()[ann.id]
        label_line = (
            (folder / "labels" / item.subset / f"{item.id}.txt").read_text().splitlines()[ann.id]
        )
        assert line.split()[:5] == label_line.split(), (item.id, ann.id, line, label_line)
        frame = int(item.id.rsplit("_", 1)[1])
        rows.append([frame, int(line.split()[-1]), *ann.get_bbox()])
    return rows


def main() -> None:
    out, name = Path(sys.argv[1]), sys.argv[2]
    result = {
        fmt: reader(out, name)
        for fmt, reader in {"cvat": cvat, "coco": coco, "mot": mot, "yolo": yolo}.items()
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
