"""The batch manifest: OUT/manifest.jsonl, one JSON line per video as it finishes.

Lines are appended and flushed to disk one at a time, so a run killed at any moment leaves every
finished video recorded (at worst a last line cut short, which reading ignores). A later line for
the same video replaces earlier ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MANIFEST_NAME", "Manifest", "VideoRecord"]

MANIFEST_NAME = "manifest.jsonl"
STATUSES = ("done", "partial", "failed")


@dataclass
class VideoRecord:
    """What happened to one video.

    Attributes:
        video: the source as given (path, URL or webcam index).
        name: its output name; its outputs are in OUT/<name>/.
        status: "done", "partial" (a stream that ended early: outputs hold what was read) or
            "failed" (no outputs).
        frames: frames tracked.
        seconds: wall-clock seconds the video took.
        outputs: output files, relative to OUT.
        error: the one-line reason for "failed" or "partial".
        warnings: other things the user should know.
    """

    video: str
    name: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class Manifest:
    """Reads and appends OUT/manifest.jsonl.

    Args:
        out: the batch's output folder.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / MANIFEST_NAME
        self.records: dict[str, VideoRecord] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                record = self._parse(line)
                if record is not None:
                    self.records[record.name] = record

    @staticmethod
    def _parse(line: str) -> VideoRecord | None:
        """A record, or None for a line that is not one (cut short by a kill, or edited)."""
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("name"), str)
            or data.get("status") not in STATUSES
        ):
            return None
        try:
            return VideoRecord.from_dict(data)
        except TypeError:
            return None

    def is_done(self, name: str) -> bool:
        """Whether a video finished ("done") and all its recorded outputs are still there."""
        record = self.records.get(name)
        return (
            record is not None
            and record.status == "done"
            and all((self.out / output).exists() for output in record.outputs)
        )

    def append(self, record: VideoRecord) -> None:
        """Records a finished video: one line, flushed and synced before this returns."""
        self.out.mkdir(parents=True, exist_ok=True)
        line = (record.to_json() + "\n").encode("utf-8")
        with open(self.path, "a+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size > 0:  # a line cut short by a killed run must not swallow this one
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record.name] = record
