"""Generates the bundled sample: a synthetic clip of textured objects that move, cross and occlude.

Everything here is drawn by this script (no third-party media). Outputs, next to this file:
- `shapes.mp4`: 96 frames, 640x360, 24 fps, H.264;
- `shapes_gt.txt`: MOTChallenge ground truth (frame, id, x, y, w, h, 1, class, 1), fully visible
  boxes clipped to the frame;
- `shapes_dets.txt`: what a detector would give: ground-truth boxes with jitter, scores, missed
  detections (more under occlusion) and false positives, in MOTChallenge det layout with a
  class column (1 = disc, 2 = square).

    python samples/make_sample.py          # deterministic (seeded)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS, NUM_FRAMES = 640, 360, 24, 96


@dataclass
class Thing:
    """One object: a textured disc or square moving at constant velocity, bouncing off the borders."""

    track_id: int
    shape: str  # "disc" or "square"
    size: int
    x: float
    y: float
    vx: float
    vy: float
    texture: np.ndarray  # (size, size, 3) uint8 RGB

    def step(self) -> None:
        self.x += self.vx
        self.y += self.vy
        if not 0 <= self.x <= WIDTH - self.size:
            self.vx = -self.vx
            self.x = float(np.clip(self.x, 0, WIDTH - self.size))
        if not 0 <= self.y <= HEIGHT - self.size:
            self.vy = -self.vy
            self.y = float(np.clip(self.y, 0, HEIGHT - self.size))


def _texture(rng: np.random.Generator, size: int, kind: int) -> np.ndarray:
    base = rng.integers(40, 230, 3)
    other = 255 - base
    yy, xx = np.mgrid[0:size, 0:size]
    if kind == 0:
        pattern = (xx // 6) % 2  # vertical stripes
    elif kind == 1:
        pattern = ((xx // 8) + (yy // 8)) % 2  # checkerboard
    elif kind == 2:
        pattern = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size / 4) ** 2).astype(int)  # bullseye
    else:
        pattern = (yy // 5) % 2  # horizontal stripes
    return np.where(pattern[..., None] == 1, other, base).astype(np.uint8)


def _things(rng: np.random.Generator) -> list[Thing]:
    specs = [  # (shape, size, x, y, vx, vy): paths chosen so that objects cross and occlude
        ("disc", 70, 20, 40, 5.0, 1.5), ("square", 60, 540, 60, -4.5, 1.0), ("disc", 56, 300, 280, 2.0, -2.5),
        ("square", 80, 100, 250, 3.0, -1.0), ("disc", 64, 560, 250, -3.5, -1.5), ("square", 50, 320, 20, -1.0, 3.0),
    ]
    return [
        Thing(i + 1, shape, size, x, y, vx, vy, _texture(rng, size, i % 4))
        for i, (shape, size, x, y, vx, vy) in enumerate(specs)
    ]


def _background() -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack([60 + 40 * xx / WIDTH, 70 + 30 * yy / HEIGHT, 90 + 0 * xx], axis=-1)
    image[(xx // 80 + yy // 80) % 2 == 0] += 12  # faint floor tiles
    return image.astype(np.uint8)


def _draw(canvas: np.ndarray, thing: Thing) -> None:
    x, y, s = int(round(thing.x)), int(round(thing.y)), thing.size
    mask = np.zeros((s, s), np.uint8)
    if thing.shape == "disc":
        cv2.circle(mask, (s // 2, s // 2), s // 2, 1, -1)
    else:
        mask[:] = 1
    region = canvas[y : y + s, x : x + s]
    region[mask == 1] = thing.texture[mask == 1]


def _visible_fraction(things: list[Thing], index: int) -> float:
    """Fraction of thing `index` not covered by things drawn after it (later = in front)."""
    t = things[index]
    cover = np.zeros((t.size, t.size), bool)
    for other in things[index + 1 :]:
        x0, y0 = int(other.x - t.x), int(other.y - t.y)
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(t.size, x0 + other.size), min(t.size, y0 + other.size)
        if xa < xb and ya < yb:
            cover[ya:yb, xa:xb] = True
    return 1.0 - cover.mean()


def generate(out_dir: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    things = _things(rng)
    background = _background()
    gt_lines, det_lines = [], []
    video = out_dir / "shapes.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "26", "preset": "slow"}
        for frame in range(1, NUM_FRAMES + 1):
            canvas = background.copy()
            for thing in things:
                _draw(canvas, thing)
            for i, t in enumerate(things):
                cls = 1 if t.shape == "disc" else 2
                gt_lines.append(f"{frame},{t.track_id},{t.x:.1f},{t.y:.1f},{t.size},{t.size},1,{cls},1")
                visible = _visible_fraction(things, i)
                if rng.random() > (0.97 if visible > 0.7 else 0.4 * visible):
                    continue  # missed, more often when occluded
                jitter = rng.normal(0, 0.04 * t.size, 4)
                x, y = t.x + jitter[0], t.y + jitter[1]
                w, h = t.size + jitter[2], t.size + jitter[3]
                score = float(np.clip(0.55 + 0.4 * visible + rng.normal(0, 0.05), 0.05, 0.99))
                det_lines.append(f"{frame},-1,{x:.1f},{y:.1f},{w:.1f},{h:.1f},{score:.3f},{cls},1")
            if rng.random() < 0.15:  # a false positive somewhere
                w, h = rng.uniform(30, 70, 2)
                x, y = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
                det_lines.append(f"{frame},-1,{x:.1f},{y:.1f},{w:.1f},{h:.1f},{rng.uniform(0.1, 0.45):.3f},1,1")
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                container.mux(packet)
            for thing in things:
                thing.step()
        for packet in stream.encode():
            container.mux(packet)
    (out_dir / "shapes_gt.txt").write_text("\n".join(gt_lines) + "\n")
    (out_dir / "shapes_dets.txt").write_text("\n".join(det_lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate(args.out, args.seed)


if __name__ == "__main__":
    main()
