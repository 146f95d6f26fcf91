"""`masa proposals`: instance proposals (COCO JSON) for the images `masa train` learns from."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from masa_cli import options as opt
from masa_cli.common import cli_errors
from masa_cli.outputs import check_output_file


class Method(str, Enum):
    """How proposals are made."""

    sam = (
        "sam"  # SAM's automatic mask generator (the paper's pseudo-labels); needs --sam-checkpoint
    )
    selective_search = (
        "selective-search"  # weight-free stand-in: selective search on watershed superpixels
    )
    fastestdet = "fastestdet"  # FastestDet detections as pseudo-boxes (--detector-weights)
    coco = "coco"  # convert existing COCO instance annotations (--coco-json)


@cli_errors
def proposals(
    images: Annotated[
        Path,
        typer.Argument(
            help="Folder of training images (searched recursively).", show_default=False
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="COCO JSON to write.")] = Path(
        "proposals.json"
    ),
    method: Annotated[
        Method,
        typer.Option(
            help="sam (paper), selective-search (no weights), fastestdet (detector pseudo-boxes) "
            "or coco (convert)."
        ),
    ] = Method.sam,
    sam_checkpoint: Annotated[
        Optional[Path], typer.Option(help="SAM weights file (e.g. sam_vit_h_4b8939.pth).")
    ] = None,
    sam_model: Annotated[
        str, typer.Option(help="SAM variant: vit_h (paper), vit_l or vit_b.")
    ] = "vit_h",
    coco_json: Annotated[
        Optional[Path], typer.Option(help="COCO instances file to convert (--method coco).")
    ] = None,
    detector_weights: Annotated[
        Optional[str],
        typer.Option(
            help="fastestdet: its ONNX file, a folder holding FastestDet.onnx, or the known name "
            "'fastestdet' (downloaded once)."
        ),
    ] = None,
    score_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="fastestdet: keep boxes scoring above this.")
    ] = 0.3,
    max_per_image: Annotated[
        int, typer.Option(min=1, help="selective-search: boxes kept per image.")
    ] = 100,
    device: opt.Device = "auto",
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Recompute when --out was made from other images or settings."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    threads: opt.Threads = None,
) -> None:
    """Make instance proposals for training images, or reuse an up-to-date file.

    The file records a hash of the images (names, sizes, times), the method and its settings;
    a matching file is reused, a different one is only replaced with --overwrite."""
    from masa.compute import set_threads
    from masa.errors import InputError
    from masa.train.proposals import make_proposals

    set_threads(threads)
    check_output_file(out, "--out")
    detect, params = None, {}
    if method is Method.sam:
        if sam_checkpoint is None:
            raise InputError(
                "--method sam needs --sam-checkpoint (SAM weights); without weights use "
                "--method selective-search, or --method coco --coco-json FILE"
            )
        if not sam_checkpoint.is_file():
            raise FileNotFoundError(f"SAM weights not found: {sam_checkpoint}")
        params = {
            "model": sam_model,
            "checkpoint": sam_checkpoint.name,
            "bytes": sam_checkpoint.stat().st_size,
        }
        detect = _lazy_sam(sam_checkpoint, sam_model, device)
    elif method is Method.selective_search:
        from masa.train.selective_search import selective_search_proposals

        params = {"max_boxes": max_per_image}
        detect = functools.partial(selective_search_proposals, max_boxes=max_per_image)
    elif method is Method.fastestdet:
        from masa.detectors.fastestdet import resolve_fastestdet_weights
        from masa.train.proposals import build_fastestdet_proposer

        weights = resolve_fastestdet_weights(detector_weights)
        params = {"weights": weights.name, "bytes": weights.stat().st_size,
                  "score_threshold": score_threshold}
        detect = build_fastestdet_proposer(weights, score_threshold=score_threshold)
    if quiet or detect is None:
        path, reused = make_proposals(
            images,
            out,
            method=method.value,
            detect=detect,
            params=params,
            coco_json=coco_json,
            overwrite=overwrite,
        )
    else:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("proposals", total=None)
            path, reused = make_proposals(
                images,
                out,
                method=method.value,
                detect=detect,
                params=params,
                coco_json=coco_json,
                overwrite=overwrite,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    typer.echo(f"{'reused up-to-date' if reused else 'wrote'} {path}")


def _lazy_sam(
    checkpoint: Path, model_type: str, device: str
) -> Callable[[Any], list[dict[str, Any]]]:
    """SAM's generator, built on the first image only (an up-to-date file never loads SAM)."""
    generator: list[Callable[[Any], list[dict[str, Any]]]] = []

    def detect(image: Any) -> list[dict[str, Any]]:
        if not generator:
            from masa.train.proposals import build_sam_generator
            from masa_cli.runner import resolve_device

            generator.append(
                build_sam_generator(
                    checkpoint, model_type=model_type, device=str(resolve_device(device))
                )
            )
        return generator[0](image)

    return detect
