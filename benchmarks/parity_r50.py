"""Prints how closely masa reproduces the official MASA-R50 code (../shared/parity).

Rebuilds the official checkpoint from its manifest (seeded, mmengine-style) in a temporary folder,
loads it strictly, and prints the preprocessing difference, the max abs difference of adapter
levels 2-4 and the worst relative error of the 9 embeddings against the official outputs.

    python benchmarks/parity_r50.py
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

import cv2
import torch
from safetensors.torch import load_file

from masa.adapter.preprocess import preprocess_image
from masa.weights import load_adapter

PARITY = Path(__file__).resolve().parents[2] / "shared" / "parity"


def main() -> None:
    spec = importlib.util.spec_from_file_location("make_checkpoint", PARITY / "make_checkpoint.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    manifest = json.loads((PARITY / "r50_masa.manifest.json").read_text())
    expected = load_file(str(PARITY / "r50_masa.expected.safetensors"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r50_masa.pth"
        make.save_mmengine_style(make.fill(manifest), path, manifest)
        adapter = load_adapter(path)
    image = cv2.cvtColor(cv2.imread(str(PARITY / "pets_000001.png")), cv2.COLOR_BGR2RGB)
    images, _ = preprocess_image(image)
    print(f"preprocessed input: max abs diff {(images - expected['input']).abs().max():.3g}")
    with torch.inference_mode():
        fused = adapter.features(images)
        for level in (2, 3, 4):
            diff = (fused[level] - expected[f"adapter_level{level}"]).abs().max()
            print(f"adapter level {level}: max abs diff {diff:.3g}")
        boxes = expected["boxes_xyxy_network"]
        embeddings = adapter.embed_rois(fused, torch.cat([torch.zeros(len(boxes), 1), boxes], 1))
    reference = expected["embeddings"]
    relative = ((embeddings - reference).norm(dim=1) / reference.norm(dim=1)).max()
    print(f"embeddings: worst relative error {relative:.3g} (tests require < 1e-4)")


if __name__ == "__main__":
    main()
