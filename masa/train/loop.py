"""The training loop: `train(TrainConfig(...))` runs MASA's self-supervised recipe (SPEC §5.5).

One linear loop (nanoGPT style): SGD with linear warm-up and step decay, gradient accumulation,
gradient clipping, autocast on CUDA, DDP when launched by `torchrun`, a `train_log.csv`, periodic
adapter checkpoints that `masa track --checkpoint` loads, and a resume state.

Every step is reproducible on its own: the data of sample i depends only on `(seed, i)`, and the
random state of step s is reseeded from `(seed, s, rank)`. A resumed run therefore continues the
very same loss curve as an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from masa.errors import InputError
from masa.safe_load import load_weights_file
from masa.train.augment import AugmentConfig
from masa.train.build import build_training_models
from masa.train.data import SampleIndexSampler, TwoViewDataset, collate_pairs
from masa.train.distributed import Dist, amp_dtype, setup_distributed
from masa.train.objective import LOSS_NAMES, MasaObjective, TrackLossConfig
from masa.train.proposals import read_proposals

__all__ = ["FINAL_CHECKPOINT", "LOG_COLUMNS", "RESUME_FILE", "TrainConfig", "learning_rate",
           "track_loss_config", "train"]

logger = logging.getLogger(__name__)

LOG_COLUMNS = ("step", *LOSS_NAMES, "loss", "lr", "images_per_s")
RESUME_FILE = "resume.pt"
FINAL_CHECKPOINT = "adapter.safetensors"
PAPER_PAIRS_PER_STEP = 64
PAPER_LR = 0.08
# Settings a resumed run may change; everything else must match the saved run.
_MUTABLE_ON_RESUME = {"out", "resume", "stop_after", "num_workers", "log_every", "checkpoint_every",
                      "device", "images", "proposals", "amp"}


@dataclass
class TrainConfig:
    """Everything a training run needs; stored in every checkpoint (SPEC §5.5 defaults).

    Attributes:
        images: folder of training images.
        proposals: COCO proposals file for them (`masa proposals`).
        out: output folder (checkpoints, `train_log.csv`, resume state).
        model: "r50" (MASA-R50, backbone trained) or "lite" (ShuffleNetV2 adapter), see
            `masa.train.build`.
        channels, embed_dim, size, fusion_blocks: architecture overrides (None: model defaults).
        backbone_weights: ImageNet initialisation of the backbone (lite: FastestDet's
            shufflenetv2.pth).
        init_checkpoint: adapter weights to start from (fine-tuning), e.g. "masa_r50".
        freeze_backbone: keep the backbone's weights fixed and train the neck, fusion and heads
            only, as MASA trains its adapters on frozen foundation-model backbones (saves the
            backbone's backward pass; the ImageNet features are kept as they are).
        jitter_boxes: extra track-head candidate boxes drawn around each proposal box per view
            (`TrackLossConfig.jitter_boxes`; 0 = official).
        jitter_shift, jitter_scale: how far the jittered boxes move and resize
            (`jitter_box_candidates`).
        track_pos_iou: IoU with a proposal box from which a track-head candidate is a positive
            (the assigner's `pos_iou_threshold`; 0.7 = official; must exceed the 0.3 negative
            threshold).
        batch_size: view pairs per process per micro-step (8 per GPU in the paper).
        accumulate: micro-steps per optimizer step; pairs per step = batch_size * accumulate *
            world size.
        lr: learning rate; None scales the paper's 0.08 per 64 pairs linearly to the pairs per step.
        momentum, weight_decay: SGD settings.
        warmup_steps: linear warm-up length; None: 1000 (paper), or a tenth of a run shorter than
            10k steps.
        warmup_ratio: warm-up start factor.
        epochs, samples_per_epoch: the schedule: 12 epochs of 200k random draws.
        decay_epochs: epochs after which the lr is multiplied by 0.1.
        max_steps: total optimizer steps; None: epochs * samples_per_epoch / pairs per step. The
            decay points stay at the same fractions (8/12, 11/12) of the run.
        stop_after: end this invocation after this many steps (continue later with resume=True).
        clip_norm: gradient clipping max L2 norm.
        amp: "auto" (bf16 on CUDA when supported, else off), "bf16", "fp16" (CUDA only) or "none".
        device: "auto", "cpu", "cuda" or "cuda:N" (under torchrun: cuda:LOCAL_RANK).
        seed: seeds the initialisation, the data and every step.
        resume: continue the run saved in `out`.
        num_workers: data-loading processes per training process.
        log_every: steps per `train_log.csv` row (each row averages its steps).
        checkpoint_every: steps between adapter checkpoints and resume states.
    """

    images: str
    proposals: str
    out: str = "masa_train"
    model: str = "r50"
    channels: int | None = None
    embed_dim: int | None = None
    size: int | None = None
    fusion_blocks: int | None = None
    backbone_weights: str | None = None
    init_checkpoint: str | None = None
    freeze_backbone: bool = False
    jitter_boxes: int = 0
    jitter_shift: float = TrackLossConfig.jitter_shift
    jitter_scale: float = TrackLossConfig.jitter_scale
    track_pos_iou: float = TrackLossConfig.pos_iou_threshold
    batch_size: int = 8
    accumulate: int = 1
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int | None = None
    warmup_ratio: float = 0.001
    epochs: int = 12
    samples_per_epoch: int = 200_000
    decay_epochs: tuple[int, ...] = (8, 11)
    max_steps: int | None = None
    stop_after: int | None = None
    clip_norm: float = 35.0
    amp: str = "auto"
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    num_workers: int = 4
    log_every: int = 10
    checkpoint_every: int = 1000

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _Plan:
    """The resolved schedule of a run."""

    pairs_per_step: int
    total_steps: int
    lr: float
    warmup_steps: int
    milestones: tuple[int, ...]


@dataclass
class _Run:
    """What the loop updates: the objective (adapter + heads), its DDP wrapper, the optimizer."""

    objective: MasaObjective
    model: nn.Module  # the objective, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    amp_dtype: torch.dtype | None


def learning_rate(step: int, plan: _Plan, warmup_ratio: float) -> float:
    """Linear warm-up from `warmup_ratio` over `plan.warmup_steps`, then x0.1 at each milestone."""
    factor = 0.1 ** sum(step >= m for m in plan.milestones)
    if step < plan.warmup_steps:
        factor *= warmup_ratio + (1.0 - warmup_ratio) * step / plan.warmup_steps
    return plan.lr * factor


def _plan(config: TrainConfig, world_size: int) -> _Plan:
    pairs = config.batch_size * config.accumulate * world_size
    total = config.max_steps or max(1, config.epochs * config.samples_per_epoch // pairs)
    lr = config.lr if config.lr is not None else PAPER_LR * pairs / PAPER_PAIRS_PER_STEP
    warmup = config.warmup_steps if config.warmup_steps is not None else min(1000, total // 10)
    milestones = tuple(round(total * e / config.epochs) for e in config.decay_epochs)
    return _Plan(pairs, total, lr, warmup, milestones)


def _step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def _check_resumable(out: Path, config: TrainConfig, world_size: int) -> dict[str, Any] | None:
    state_path = out / RESUME_FILE
    if not config.resume:
        if state_path.exists():
            raise InputError(f"{out} holds a training run; pass --resume to continue it, "
                             "or choose another --out")
        return None
    if not state_path.is_file():
        raise InputError(f"--resume: no {RESUME_FILE} in {out}")
    state = load_weights_file(state_path, what="resume state")
    expected = ("step", "world_size", "config", "adapter", "heads", "optimizer", "scaler")
    try:
        saved_config = json.loads(state["config"])
        if not all(k in state for k in expected) or not isinstance(saved_config, dict):
            raise ValueError
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{state_path}: not a resume state written by masa train") from None
    # a run saved before a setting existed ran with that setting's default
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    saved = {k: defaults.get(k) for k in config.to_dict()} | saved_config
    changed = sorted(k for k, v in config.to_dict().items()
                     if k not in _MUTABLE_ON_RESUME and saved.get(k) != v)
    if changed:
        differences = ", ".join(f"{k} {saved.get(k)!r} -> {getattr(config, k)!r}" for k in changed)
        raise InputError(f"--resume: settings differ from the saved run: {differences}")
    if state["world_size"] != world_size:
        raise InputError(f"--resume: the run used {state['world_size']} processes, "
                         f"this one {world_size}")
    return state


def _save_state(out: Path, step: int, config: TrainConfig, run: _Run, world_size: int) -> None:
    """Writes the resume state (plain tensors and containers, readable with `weights_only=True`)."""
    state = {
        "step": step, "world_size": world_size, "config": json.dumps(config.to_dict()),
        "adapter": run.objective.adapter.state_dict(), "heads": run.objective.heads.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else {},
        "torch_rng": torch.get_rng_state(),
    }
    tmp = out / f".{RESUME_FILE}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / RESUME_FILE)


def _save_checkpoint(path: Path, objective: MasaObjective, step: int, config: TrainConfig,
                     method: str, num_images: int) -> Path:
    from masa.adapter.loading import save_adapter

    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"images": config.images, "proposals": config.proposals, "num_images": num_images}
    return save_adapter(objective.adapter, path, step=step, config=config.to_dict(), data=data,
                        proposal_method=method)


class _CsvLog:
    """`train_log.csv`: one row per logged step; a resumed run drops the rows after its step."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        rows: list[list[str]] = []
        if resume_step is not None and path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in list(csv.reader(f))[1:] if r and int(r[0]) <= resume_step]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([list(LOG_COLUMNS), *rows])

    def write(self, row: dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row["step"]] + [f"{row[c]:.6g}" for c in LOG_COLUMNS[1:]])


def track_loss_config(config: TrainConfig) -> TrackLossConfig:
    """The track head's candidate and assigner settings of `config`; InputError if out of range."""
    track = TrackLossConfig(
        jitter_boxes=config.jitter_boxes, jitter_shift=config.jitter_shift,
        jitter_scale=config.jitter_scale, pos_iou_threshold=config.track_pos_iou,
    )
    if not track.neg_iou_threshold < track.pos_iou_threshold <= 1.0:
        raise InputError(f"--track-pos-iou must be in ({track.neg_iou_threshold}, 1], "
                         f"got {config.track_pos_iou}")
    if config.jitter_shift < 0 or config.jitter_scale < 0:
        raise InputError(f"--jitter-shift and --jitter-scale must be >= 0, got "
                         f"{config.jitter_shift} and {config.jitter_scale}")
    return track


def _build(config: TrainConfig, ctx: Dist, amp_dtype: torch.dtype | None) -> _Run:
    track = track_loss_config(config)  # checked before the models are built
    torch.manual_seed(config.seed)
    adapter, heads = build_training_models(
        config.model, channels=config.channels, embed_dim=config.embed_dim, size=config.size,
        fusion_blocks=config.fusion_blocks, backbone_weights=config.backbone_weights,
        init_checkpoint=config.init_checkpoint,
    )
    if config.freeze_backbone:
        if adapter.backbone is None:
            raise InputError("--freeze-backbone needs a model with its own backbone")
        adapter.backbone.requires_grad_(False)
    objective = MasaObjective(adapter, heads, track).to(ctx.device)
    model: nn.Module = objective
    if ctx.world_size > 1:
        if ctx.device.type == "cuda":  # SyncBN where batch statistics are used (not the backbone)
            adapter.neck = nn.SyncBatchNorm.convert_sync_batchnorm(adapter.neck)
            heads.box_head = nn.SyncBatchNorm.convert_sync_batchnorm(heads.box_head)
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(objective, device_ids=device_ids)
    params = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.0, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    return _Run(objective, model, optimizer, scaler, amp_dtype)


def _restore(state: dict[str, Any], run: _Run) -> int:
    run.objective.adapter.load_state_dict(state["adapter"])
    run.objective.heads.load_state_dict(state["heads"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scaler is not None and state["scaler"]:
        run.scaler.load_state_dict(state["scaler"])
    return int(state["step"])


def _loader(dataset: TwoViewDataset, config: TrainConfig, ctx: Dist, start_batch: int) -> Any:
    sampler = SampleIndexSampler(config.batch_size, rank=ctx.rank, world_size=ctx.world_size,
                                 start_batch=start_batch)
    return iter(torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, sampler=sampler, collate_fn=collate_pairs,
        num_workers=config.num_workers, pin_memory=ctx.device.type == "cuda",
        prefetch_factor=2 if config.num_workers else None,
    ))


def _next_batch(batches: Any) -> Any:
    """The next batch; a data error from a loader worker keeps only its own one-line message."""
    try:
        return next(batches)
    except InputError as e:
        lines = str(e).strip().splitlines()
        if len(lines) > 1 and lines[0].startswith("Caught "):  # DataLoader worker traceback
            raise type(e)(lines[-1].split(": ", 1)[-1]) from None
        raise


def _optimizer_step(run: _Run, batches: Any, config: TrainConfig, ctx: Dist,
                    generator: torch.Generator) -> torch.Tensor:
    """`accumulate` forward/backward passes, clipping and one SGD step.

    Returns:
        Tensor[len(LOSS_NAMES)] float64: the loss terms of this step (mean over micro-steps).
    """
    terms = torch.zeros(len(LOSS_NAMES), dtype=torch.float64)
    for micro in range(config.accumulate):
        batch = _next_batch(batches).to(ctx.device)
        last = micro == config.accumulate - 1
        sync = run.model.no_sync() if ctx.world_size > 1 and not last else nullcontext()
        autocast = torch.autocast(ctx.device.type, dtype=run.amp_dtype,
                                  enabled=run.amp_dtype is not None)
        with sync:  # DDP syncs gradients in the backward pass of the last micro-step only
            with autocast:
                losses = run.model(batch.key_images, batch.ref_images, batch.key_xyxy,
                                   batch.key_ids, batch.ref_xyxy, batch.ref_ids, generator)
            loss = sum(losses.values()) / config.accumulate
            values = torch.tensor([v.item() for v in losses.values()], dtype=torch.float64)
            if not torch.isfinite(values).all():
                raise RuntimeError(f"non-finite loss {dict(zip(LOSS_NAMES, values.tolist()))} "
                                   f"on images {batch.paths}")
            (run.scaler.scale(loss) if run.scaler is not None else loss).backward()
        terms += values / config.accumulate
    if run.scaler is not None:
        run.scaler.unscale_(run.optimizer)
    torch.nn.utils.clip_grad_norm_(run.objective.parameters(), config.clip_norm)
    if run.scaler is not None:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return terms


class _Meter:
    """Averages the loss terms between logged steps and measures pairs per second."""

    def __init__(self, pairs_per_step: int) -> None:
        self.pairs_per_step = pairs_per_step
        self.sums = torch.zeros(len(LOSS_NAMES), dtype=torch.float64)
        self.steps, self.clock = 0, time.perf_counter()

    def add(self, terms: torch.Tensor) -> None:
        self.sums += terms
        self.steps += 1

    def pause(self, seconds: float) -> None:
        """Leaves time spent on something else (checkpointing) out of images/s."""
        self.clock += seconds

    def row(self, step: int, lr: float, ctx: Dist) -> dict[str, float]:
        """The `LOG_COLUMNS` row of the steps since the last one (averaged over ranks too)."""
        means = _reduce_mean(self.sums.to(ctx.device) / self.steps, ctx.world_size).cpu()
        speed = self.steps * self.pairs_per_step / (time.perf_counter() - self.clock)
        row = {"step": step, **dict(zip(LOSS_NAMES, means.tolist())), "loss": float(means.sum()),
               "lr": lr, "images_per_s": speed}
        self.sums.zero_()
        self.steps, self.clock = 0, time.perf_counter()
        return row


def _reduce_mean(values: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1:
        dist.all_reduce(values)
        values /= world_size
    return values


def train(config: TrainConfig, *,
          on_step: Callable[[int, int, dict[str, float] | None], None] | None = None) -> Path:
    """Runs (or resumes) a training run.

    Args:
        config: the run.
        on_step: called on rank 0 after every step with `(step, total_steps, row)`; `row` is the
            `train_log.csv` row (a dict of `LOG_COLUMNS`) on logged steps, else None.

    Returns:
        Path: the latest adapter checkpoint (`out/adapter.safetensors` once the run is complete).

    Raises:
        InputError: bad settings or data (file and entry named), or an incompatible resume.
    """
    ctx = setup_distributed(config.device)
    out = Path(config.out)
    state = _check_resumable(out, config, ctx.world_size)
    plan = _plan(config, ctx.world_size)
    dtype = amp_dtype(config.amp, ctx.device)
    proposals = read_proposals(config.proposals)
    run = _build(config, ctx, dtype)
    out.mkdir(parents=True, exist_ok=True)
    augment = AugmentConfig(size=run.objective.adapter.config.resize[0])
    dataset = TwoViewDataset(proposals, config.images, augment, seed=config.seed)
    step = _restore(state, run) if state is not None else 0
    batches = _loader(dataset, config, ctx, start_batch=step * config.accumulate)
    log = _CsvLog(out / "train_log.csv", step if state else None) if ctx.rank == 0 else None
    logger.info("training %s on %d images (%s proposals): %d steps of %d pairs, lr %.4g, "
                "warm-up %d, decay at %s", config.model, len(proposals.images), proposals.method,
                plan.total_steps, plan.pairs_per_step, plan.lr, plan.warmup_steps,
                list(plan.milestones))
    generator, meter = torch.Generator(), _Meter(plan.pairs_per_step)
    latest = out / FINAL_CHECKPOINT
    end = plan.total_steps
    if config.stop_after is not None:
        end = min(end, step + config.stop_after)
    while step < end:
        lr = learning_rate(step, plan, config.warmup_ratio)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        seed = _step_seed(config.seed, step, ctx.rank)
        torch.manual_seed(seed)
        generator.manual_seed(seed)
        meter.add(_optimizer_step(run, batches, config, ctx, generator))
        step += 1
        row = meter.row(step, lr, ctx) if step % config.log_every == 0 or step == end else None
        if log is not None and row is not None:
            log.write(row)
        if ctx.rank == 0 and (step % config.checkpoint_every == 0 or step == end):
            started = time.perf_counter()
            name = (FINAL_CHECKPOINT if step == plan.total_steps
                    else f"checkpoints/adapter_step{step:07d}.safetensors")
            latest = _save_checkpoint(out / name, run.objective, step, config, proposals.method,
                                      len(proposals.images))
            _save_state(out, step, config, run, ctx.world_size)
            meter.pause(time.perf_counter() - started)
        if on_step is not None and ctx.rank == 0:
            on_step(step, plan.total_steps, row)
    if ctx.world_size > 1:
        dist.barrier()
    return latest
