"""`masa eval`: score tracking results against ground truth (HOTA, CLEAR, Identity, TETA)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from masa_cli.common import cli_errors
from masa_cli.outputs import check_output_file, write_text_atomic

_TABLE_COLUMNS = {
    "hota": ("HOTA", "DetA", "AssA", "LocA"),
    "clear": ("MOTA", "MOTP", "IDSW", "Frag", "MT", "ML", "CLR_FP", "CLR_FN"),
    "identity": ("IDF1", "IDP", "IDR"),
    "teta": (
        "TETA",
        "LocA",
        "AssocA",
        "ClsA",
        "LocRe",
        "LocPr",
        "AssocRe",
        "AssocPr",
        "ClsRe",
        "ClsPr",
    ),
}
_HEADERS = {"CLR_FP": "FP", "CLR_FN": "FN"}


@cli_errors
def eval_command(
    gt: Annotated[
        Path,
        typer.Option(
            "--gt",
            help="Ground truth: MOTChallenge folder (<seq>/gt/gt.txt + "
            "seqinfo.ini) or a plain gt.txt (scored class-agnostic, as MOT15), TAO/COCO-video "
            "JSON, or BDD100K scalabel JSON/folder.",
        ),
    ],
    results: Annotated[
        Path,
        typer.Option(
            "--results",
            help="Results: folder of <seq>.txt (MOT), TAO results "
            "JSON, or scalabel JSON/folder (BDD).",
        ),
    ],
    format: Annotated[
        Optional[str],
        typer.Option("--format", help="mot, tao or bdd (default: detected from --gt)."),
    ] = None,
    metrics: Annotated[
        Optional[str],
        typer.Option(
            "--metrics",
            help="Comma-separated: hota,clear,identity (mot, bdd) or teta (tao). Default: all.",
        ),
    ] = None,
    iou: Annotated[
        str, typer.Option("--iou", help="box, or mask (RLE masks of TAO/BDD files, for MOTS).")
    ] = "box",
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write every sub-metric as JSON.")
    ] = None,
    csv_out: Annotated[
        Optional[Path], typer.Option("--csv", help="Write every sub-metric as CSV.")
    ] = None,
    frames: Annotated[
        Optional[int],
        typer.Option(
            "--frames",
            min=1,
            help="With a plain gt.txt file: the sequence length "
            "(default: the last frame in either file).",
        ),
    ] = None,
) -> None:
    """Score tracking results: TrackEval-exact HOTA/CLEAR/Identity, teta-exact TETA."""
    from masa.errors import InputError
    from masa.eval.runner import evaluate

    if iou not in ("box", "mask"):
        raise InputError(f"--iou must be box or mask, got {iou!r}")
    metric_list = metrics.split(",") if metrics else None
    for option, path in (("--json", json_out), ("--csv", csv_out)):
        if path is not None:
            check_output_file(Path(path), option)  # before minutes of scoring, not after
    result = evaluate(gt, results, format, metric_list, use_mask=iou == "mask", num_frames=frames)
    _print_table(result)
    if json_out is not None:
        import json

        write_text_atomic(json_out, json.dumps(result.to_dict(), indent=2) + "\n")
    if csv_out is not None:
        write_text_atomic(csv_out, _to_csv(result))


def _rows(result) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """(per-sequence or per-class rows, combined rows)."""
    if result.format == "mot":
        return list(result.per_sequence.items()), [("COMBINED", result.combined)]
    rows = list(result.per_class.items())
    if result.format == "tao":
        return rows, [("average", result.combined)] + [(k, v) for k, v in result.splits.items()]
    class_av = {k[1:]: v for k, v in result.combined.items() if k.startswith("m")}
    return rows, [("class average", class_av), ("det. average", result.combined)]


def _print_table(result) -> None:
    from rich.console import Console
    from rich.table import Table

    columns = [c for m in result.metrics for c in _TABLE_COLUMNS[m]]
    first = {"mot": "sequence", "tao": "class", "bdd": "class"}[result.format]
    table = Table(title=f"masa eval ({result.format}; fractions shown in %)")
    table.add_column(first, style="bold")
    for c in columns:
        table.add_column(_HEADERS.get(c, c), justify="right")
    body, totals = _rows(result)
    for i, (name, values) in enumerate(body + totals):
        cells = []
        for c in columns:
            v = values.get(c)
            cells.append("-" if v is None else str(v) if isinstance(v, int) else f"{100 * v:.3f}")
        table.add_row(name, *cells, end_section=i == len(body) - 1)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(120, 12 * (len(columns) + 2)))
    console.print(table)


def _to_csv(result) -> str:
    import csv
    import io

    records = [("combined", "", result.combined)]
    records += [("sequence", k, v) for k, v in result.per_sequence.items()]
    records += [("class", k, v) for k, v in result.per_class.items()]
    records += [("split", k, v) for k, v in result.splits.items()]
    names = list(dict.fromkeys(n for _, _, row in records for n in row))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["scope", "name", *names])
    for scope, name, row in records:
        writer.writerow(
            [
                scope,
                name,
                *(repr(row[n]) if isinstance(row.get(n), float) else row.get(n, "") for n in names),
            ]
        )
    return buf.getvalue()
