"""`masa train`: self-supervised MASA training from unlabeled images and their proposals."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from masa_cli import options as opt
from masa_cli.common import cli_errors
from masa_cli.outputs import check_output_folder

MODEL = "Model"
SCHEDULE = "Schedule"
RUN = "Run"


class Model(str, Enum):
    """Trainable architectures (`masa.train.build`)."""

    r50 = "r50"  # MASA-R50: caffe ResNet-50 (trained), FPN, 3 DeformFusion blocks, 1024 px
    lite = "lite"  # ShuffleNetV2 0.5x, 64-channel FPN, no fusion, 128-d embeddings, 640 px


class Amp(str, Enum):
    """Mixed precision (CUDA only)."""

    auto = "auto"
    bf16 = "bf16"
    fp16 = "fp16"
    none = "none"


@cli_errors
def train(
    images: Annotated[Path, typer.Option(help="Folder of training images.", show_default=False)],
    proposals: Annotated[
        Path, typer.Option(help="COCO proposals for them (`masa proposals`).", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output folder: checkpoints, train_log.csv, resume state."
        ),
    ] = Path("masa_train"),
    model: Annotated[Model, typer.Option(help="Architecture.", rich_help_panel=MODEL)] = Model.r50,
    channels: Annotated[
        Optional[int],
        typer.Option(
            help="Neck/head channels, a multiple of 32 (r50: 256, lite: 64).", rich_help_panel=MODEL
        ),
    ] = None,
    embed_dim: Annotated[
        Optional[int],
        typer.Option(help="Embedding size (r50: 256, lite: 128).", rich_help_panel=MODEL),
    ] = None,
    size: Annotated[
        Optional[int],
        typer.Option(
            help="Training view side and inference resize (r50: 1024, lite: 640).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    fusion_blocks: Annotated[
        Optional[int],
        typer.Option(
            help="DeformFusion blocks (r50: 3, lite: 0; slow on CPU).", rich_help_panel=MODEL
        ),
    ] = None,
    backbone_weights: Annotated[
        Optional[Path],
        typer.Option(
            help="ImageNet backbone init: megvii ShuffleNetV2 0.5x .pth for lite, "
            "a ResNet-50 state dict for r50.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    init_checkpoint: Annotated[
        Optional[str],
        typer.Option(
            help="Start from these adapter weights (fine-tune): a file or a known name "
            "such as masa_r50.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    freeze_backbone: Annotated[
        bool,
        typer.Option(
            help="Keep the backbone fixed; train the neck, fusion and heads only (as MASA's "
            "adapters on frozen foundation models).",
            rich_help_panel=MODEL,
        ),
    ] = False,
    jitter_boxes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Extra track-head candidates drawn around each proposal box per view; those "
            "with IoU >= --track-pos-iou become shifted positives (0: official, RPN proposals "
            "only).",
            rich_help_panel=MODEL,
        ),
    ] = 0,
    jitter_shift: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Largest shift of a jittered box, as a fraction of its width and height.",
            rich_help_panel=MODEL,
        ),
    ] = 0.15,
    jitter_scale: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Largest log-scale change of a jittered box's width and height.",
            rich_help_panel=MODEL,
        ),
    ] = 0.25,
    track_pos_iou: Annotated[
        float,
        typer.Option(
            min=0.3,
            max=1.0,
            help="IoU with a proposal box from which a track-head candidate is a positive "
            "(official 0.7; must exceed the 0.3 negative threshold).",
            rich_help_panel=MODEL,
        ),
    ] = 0.7,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, help="View pairs per process per micro-step.", rich_help_panel=SCHEDULE
        ),
    ] = 8,
    accumulate: Annotated[
        int,
        typer.Option(
            min=1,
            help="Micro-steps per optimizer step (gradient accumulation).",
            rich_help_panel=SCHEDULE,
        ),
    ] = 1,
    lr: Annotated[
        Optional[float],
        typer.Option(
            help="Learning rate (default: 0.08 x pairs per step / 64).", rich_help_panel=SCHEDULE
        ),
    ] = None,
    warmup_steps: Annotated[
        Optional[int],
        typer.Option(
            min=0,
            help="Linear warm-up steps (default: 1000, or a tenth of a shorter run).",
            rich_help_panel=SCHEDULE,
        ),
    ] = None,
    epochs: Annotated[
        int,
        typer.Option(
            min=1, help="Epochs of --samples-per-epoch random draws.", rich_help_panel=SCHEDULE
        ),
    ] = 12,
    samples_per_epoch: Annotated[
        int, typer.Option(min=1, help="Random image draws per epoch.", rich_help_panel=SCHEDULE)
    ] = 200_000,
    max_steps: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Total optimizer steps (default: from --epochs); the "
            "lr decays stay at 8/12 and 11/12 of the run.",
            rich_help_panel=SCHEDULE,
        ),
    ] = None,
    stop_after: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="End this invocation after N steps (continue with --resume).",
            rich_help_panel=SCHEDULE,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seeds initialisation, data and every step.", rich_help_panel=RUN)
    ] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run saved in --out.", rich_help_panel=RUN)
    ] = False,
    device: Annotated[
        str, typer.Option(help="'auto', 'cpu', 'cuda' or 'cuda:N'.", rich_help_panel=RUN)
    ] = "auto",
    amp: Annotated[
        Amp,
        typer.Option(
            help="Mixed precision on CUDA (auto: bf16 where supported).", rich_help_panel=RUN
        ),
    ] = Amp.auto,
    workers: Annotated[
        int,
        typer.Option(
            min=0, help="Data-loading processes per training process.", rich_help_panel=RUN
        ),
    ] = 4,
    threads: opt.Threads = None,
    log_every: Annotated[
        int, typer.Option(min=1, help="Steps per train_log.csv row.", rich_help_panel=RUN)
    ] = 10,
    checkpoint_every: Annotated[
        int, typer.Option(min=1, help="Steps between checkpoints.", rich_help_panel=RUN)
    ] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a MASA adapter from unlabeled images and their proposals (no video, no labels).

    Two augmented views per image; contrastive track losses between them, plus RPN and RoI-head
    distillation of the proposals. Multi-GPU: `torchrun --nproc_per_node N -m masa_cli train ...`
    (docs/training.md has the paper's schedule for one and for eight GPUs)."""
    import logging
    import os

    from masa.compute import set_threads
    from masa.train.loop import TrainConfig
    from masa.train.loop import train as run_training

    set_threads(threads)
    check_output_folder(out, "--out")
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    config = TrainConfig(
        images=str(images),
        proposals=str(proposals),
        out=str(out),
        model=model.value,
        channels=channels,
        embed_dim=embed_dim,
        size=size,
        fusion_blocks=fusion_blocks,
        backbone_weights=str(backbone_weights) if backbone_weights else None,
        init_checkpoint=init_checkpoint,
        freeze_backbone=freeze_backbone,
        jitter_boxes=jitter_boxes,
        jitter_shift=jitter_shift,
        jitter_scale=jitter_scale,
        track_pos_iou=track_pos_iou,
        batch_size=batch_size,
        accumulate=accumulate,
        lr=lr,
        warmup_steps=warmup_steps,
        epochs=epochs,
        samples_per_epoch=samples_per_epoch,
        max_steps=max_steps,
        stop_after=stop_after,
        amp=amp.value,
        device=device,
        seed=seed,
        resume=resume,
        num_workers=workers,
        log_every=log_every,
        checkpoint_every=checkpoint_every,
    )
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 reports
    if quiet or not main_process:
        path = run_training(config)
    else:
        path = _train_with_progress(config, run_training)
    if main_process:
        typer.echo(
            f"adapter checkpoint: {path}  (use: masa track VIDEO -d DETS --checkpoint {path})"
        )


def _train_with_progress(config: object, run_training: object) -> Path:
    """Runs training under a rich progress bar (loss, images/s, ETA); each logged row is also
    printed above the bar with every loss term."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]train"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=None, stats="")

        def on_step(step: int, total: int, row: dict[str, float] | None) -> None:
            if row is None:
                progress.update(task, completed=step, total=total)
                return
            terms = "  ".join(
                f"{k.removeprefix('loss_')} {v:.4f}"
                for k, v in row.items()
                if k.startswith("loss_")
            )
            progress.console.print(
                f"step {step}/{total}  loss {row['loss']:.4f}  ({terms})  lr {row['lr']:.3g}  "
                f"{row['images_per_s']:.2f} img/s",
                highlight=False,
            )
            progress.update(
                task,
                completed=step,
                total=total,
                stats=f"loss {row['loss']:.3f}  {row['images_per_s']:.2f} img/s",
            )

        return run_training(config, on_step=on_step)  # type: ignore[operator]
