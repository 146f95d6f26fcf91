"""The training loop: schedule, a tiny run on coco128, checkpoints and exact resumption."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from masa.errors import InputError
from masa.train.loop import (
    LOG_COLUMNS,
    TrainConfig,
    _plan,
    learning_rate,
    track_loss_config,
    train,
)

LOSS_COLUMNS = [c for c in LOG_COLUMNS if c.startswith("loss")]


def test_paper_schedule_on_eight_gpus_and_with_accumulation_on_one() -> None:
    paper = TrainConfig(images="", proposals="", batch_size=8)
    on_eight = _plan(paper, world_size=8)
    on_one = _plan(replace(paper, accumulate=8), world_size=1)
    assert on_eight == on_one
    # 12 epochs x 200k samples / 64 pairs = 37,500 steps;
    # x0.1 after epochs 8 and 11 = after steps 25,000 and 34,375
    assert (on_one.pairs_per_step, on_one.total_steps, on_one.milestones) == (
        64,
        37_500,
        (25_000, 34_375),
    )
    assert (on_one.lr, on_one.warmup_steps) == (0.08, 1000)
    lr = [learning_rate(s, on_one, 0.001) for s in (0, 500, 1000, 24_999, 25_000, 34_375)]
    # warm-up from 0.08 * 0.001; halfway 0.08 * (0.001 + 0.999 / 2) = 0.04004
    np.testing.assert_allclose(lr, [8e-5, 0.04004, 0.08, 0.08, 0.008, 0.0008], rtol=1e-9)


def test_lr_scales_linearly_and_short_runs_shorten_warmup() -> None:
    plan = _plan(TrainConfig(images="", proposals="", batch_size=2, max_steps=50), world_size=1)
    assert (
        plan.lr == pytest.approx(0.08 * 2 / 64)
        and plan.warmup_steps == 5
        and plan.milestones == (33, 46)
    )


def _config(tmp_path: Path, images: Path, proposals: Path, **changes: object) -> TrainConfig:
    config = TrainConfig(
        images=str(images),
        proposals=str(proposals),
        out=str(tmp_path / "run"),
        model="lite",
        channels=32,
        embed_dim=32,
        size=160,
        batch_size=1,
        max_steps=4,
        warmup_steps=1,
        lr=0.01,
        num_workers=0,
        log_every=1,
        checkpoint_every=100,
        seed=3,
    )
    return replace(config, **changes)


def _losses(out: str) -> np.ndarray:
    with (Path(out) / "train_log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(LOG_COLUMNS)
    return np.array([[float(r[c]) for c in ["step", *LOSS_COLUMNS]] for r in rows])


def test_train_resume_and_checkpoint(
    tmp_path: Path, coco128: tuple[Path, Path], coco128_proposals: Path
) -> None:
    from masa.weights import load_adapter, read_checkpoint

    images = coco128[0]
    straight = _config(tmp_path / "a", images, coco128_proposals)
    calls: list[tuple[int, int, bool]] = []
    final = train(straight, on_step=lambda s, t, r: calls.append((s, t, r is not None)))
    assert calls == [(1, 4, True), (2, 4, True), (3, 4, True), (4, 4, True)]
    full = _losses(straight.out)
    assert full[:, 0].tolist() == [1, 2, 3, 4] and np.isfinite(full).all()

    first = _config(tmp_path / "b", images, coco128_proposals, stop_after=2)
    train(first)
    assert (Path(first.out) / "checkpoints" / "adapter_step0000002.safetensors").is_file()
    train(replace(first, stop_after=None, resume=True))
    np.testing.assert_allclose(
        _losses(first.out), full, rtol=1e-5, atol=1e-6
    )  # the same loss curve

    adapter = load_adapter(final)  # what `masa track --checkpoint` does
    image = np.zeros((120, 160, 3), np.uint8)
    assert adapter.embed(image, [[10, 10, 60, 80], [50, 20, 150, 100]]).shape == (2, 32)
    meta = read_checkpoint(final).metadata
    assert (
        meta["step"] == 4
        and meta["proposal_method"] == "coco"
        and meta["config"]["model"] == "lite"
    )
    state = torch.load(Path(straight.out) / "resume.pt", weights_only=True)
    assert state["step"] == 4 and any(k.startswith("rpn.") for k in state["heads"])
    assert not any(k.startswith(("rpn", "box_head")) for k in adapter.state_dict())


def test_freeze_backbone_trains_only_the_adapter(
    tmp_path: Path, coco128: tuple[Path, Path], coco128_proposals: Path, shared: Path
) -> None:
    from masa.adapter.backbones import load_imagenet_shufflenetv2
    from masa.train.build import build_training_models
    from masa.weights import load_adapter

    weights = shared / "data" / "weights" / "fastestdet" / "shufflenetv2.pth"
    config = _config(tmp_path, coco128[0], coco128_proposals, max_steps=2,
                     backbone_weights=str(weights), freeze_backbone=True)
    adapter = load_adapter(train(config))
    imagenet = load_imagenet_shufflenetv2(weights).state_dict()
    trained = {k.removeprefix("backbone."): v for k, v in adapter.state_dict().items()}
    assert all(torch.equal(trained[k], v) for k, v in imagenet.items())  # backbone untouched
    torch.manual_seed(config.seed)  # the initialisation `train` starts from
    initial, _ = build_training_models("lite", channels=32, embed_dim=32, size=160,
                                       backbone_weights=weights)
    neck = "lateral_convs.0.conv.weight"
    assert not torch.equal(adapter.neck.state_dict()[neck], initial.neck.state_dict()[neck])
    unfrozen = load_adapter(train(replace(config, out=str(tmp_path / "free"), freeze_backbone=False)))
    assert not torch.equal(unfrozen.backbone.state_dict()["first_conv.0.weight"],
                           imagenet["first_conv.0.weight"])


def test_resume_refuses_other_settings_and_fresh_runs_refuse_old_outputs(
    tmp_path: Path, coco128: tuple[Path, Path], coco128_proposals: Path
) -> None:
    config = _config(tmp_path, coco128[0], coco128_proposals, max_steps=1)
    with pytest.raises(InputError, match="no resume.pt"):
        train(replace(config, resume=True))
    train(config)
    with pytest.raises(InputError, match="pass --resume"):
        train(config)
    with pytest.raises(InputError, match="batch_size 1 -> 2"):
        train(replace(config, resume=True, batch_size=2))


@pytest.mark.parametrize("workers", [0, 1])
def test_data_errors_name_the_image(
    tmp_path: Path, coco128: tuple[Path, Path], workers: int
) -> None:
    import json

    images = tmp_path / "images"
    images.mkdir()
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    proposals = tmp_path / "p.json"
    proposals.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "broken.jpg", "width": 64, "height": 48}],
                "annotations": [{"id": 1, "image_id": 1, "bbox": [4, 4, 20, 20]}],
            }
        )
    )
    config = _config(tmp_path, images, proposals, max_steps=1, num_workers=workers)
    with pytest.raises(InputError) as error:
        train(config)
    assert (
        str(error.value)
        == f"{images / 'broken.jpg'}: cannot read image (missing, unreadable or not an image)"
    )


def test_track_settings_reach_the_objective_and_are_checked() -> None:
    config = TrainConfig(images="i", proposals="p", jitter_boxes=8, jitter_shift=0.25,
                         jitter_scale=0.4, track_pos_iou=0.5)
    track = track_loss_config(config)
    assert (track.jitter_boxes, track.jitter_shift, track.jitter_scale) == (8, 0.25, 0.4)
    assert track.pos_iou_threshold == 0.5 and track.neg_iou_threshold == 0.3
    official = track_loss_config(TrainConfig(images="i", proposals="p"))
    assert (official.jitter_boxes, official.pos_iou_threshold) == (0, 0.7)
    for bad in (0.3, 0.1, 1.5):
        message = f"--track-pos-iou must be in \\(0.3, 1\\], got {bad}"
        with pytest.raises(InputError, match=message):
            track_loss_config(replace(config, track_pos_iou=bad))
    with pytest.raises(InputError, match="--jitter-shift and --jitter-scale must be >= 0"):
        track_loss_config(replace(config, jitter_scale=-0.1))


def test_resuming_a_run_saved_before_a_setting_existed(
    tmp_path: Path, coco128: tuple[Path, Path], coco128_proposals: Path
) -> None:
    import json

    config = _config(tmp_path, coco128[0], coco128_proposals, max_steps=2, stop_after=1)
    train(config)
    state_path = Path(config.out) / "resume.pt"
    state = torch.load(state_path, weights_only=True)
    saved = json.loads(state["config"])
    del saved["jitter_shift"], saved["track_pos_iou"]  # as an older version wrote it
    state["config"] = json.dumps(saved)
    torch.save(state, state_path)
    with pytest.raises(InputError, match=r"track_pos_iou 0.7 -> 0.5"):
        train(replace(config, stop_after=None, resume=True, track_pos_iou=0.5))
    train(replace(config, stop_after=None, resume=True))  # the defaults it ran with
    assert _losses(config.out)[:, 0].tolist() == [1, 2]
