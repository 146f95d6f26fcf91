"""`masa eval` through Typer's CliRunner: the table, --json / --csv, one-line errors (exit 2)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from masa_cli import eval as eval_cmd
from tests.eval.mot_helpers import MOT_SEQUENCES, load_gt, perturb, write_results
from tests.eval.test_teta import FIXTURE

PETS = MOT_SEQUENCES["PETS09-S2L1"]
pytestmark = pytest.mark.skipif(
    not (PETS / "gt" / "gt.txt").is_file(), reason="shared MOT data missing"
)


def _app() -> typer.Typer:
    """The command alone, so these tests do not depend on the other subcommands."""
    app = typer.Typer()
    app.command("eval")(eval_cmd.eval_command)

    @app.callback()
    def _root() -> None:
        pass

    return app


def _run(*args: str):
    return CliRunner().invoke(_app(), ["eval", *map(str, args)])


@pytest.fixture(scope="module")
def pets_results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("results")
    write_results(perturb(load_gt(PETS), "all", 0), folder / "PETS09-S2L1.txt")
    return folder


def _assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in result.output, err
    for w in words:
        assert w in err, err


def test_registered_on_the_masa_app():
    from masa_cli.app import app

    result = CliRunner().invoke(app, ["eval", "--help"])
    assert result.exit_code == 0 and "--results" in result.output and "--metrics" in result.output


def test_table_json_and_csv(tmp_path, pets_results):
    out_json, out_csv = tmp_path / "sub" / "scores.json", tmp_path / "scores.csv"
    result = _run("--gt", PETS, "--results", pets_results, "--json", out_json, "--csv", out_csv)
    assert result.exit_code == 0, result.output
    for word in ("PETS09-S2L1", "COMBINED", "HOTA", "MOTA", "IDF1", "IDSW"):
        assert word in result.stdout
    data = json.loads(out_json.read_text())
    assert list(data) == ["combined", "per_sequence", "per_class"]
    assert list(data["per_sequence"]) == ["PETS09-S2L1"]
    combined = data["combined"]
    for name in (
        "HOTA",
        "DetA",
        "AssA",
        "LocA",
        "DetRe",
        "DetPr",
        "AssRe",
        "AssPr",
        "MOTA",
        "MOTP",
        "IDF1",
        "IDP",
        "IDR",
        "HOTA___50",
    ):
        assert isinstance(combined[name], float) and -1 <= combined[name] <= 1, name
    for name in (
        "IDSW",
        "Frag",
        "MT",
        "PT",
        "ML",
        "CLR_FP",
        "CLR_FN",
        "CLR_TP",
        "IDTP",
        "HOTA_TP___50",
    ):
        assert isinstance(combined[name], int), name
    assert (
        combined == data["per_sequence"]["PETS09-S2L1"]
    )  # one sequence: combined is that sequence
    rows = list(csv.reader(io.StringIO(out_csv.read_text())))
    assert rows[0][:3] == ["scope", "name", "HOTA"]
    assert [r[:2] for r in rows[1:]] == [["combined", ""], ["sequence", "PETS09-S2L1"]]
    assert float(rows[1][2]) == combined["HOTA"]
    assert not [p for p in tmp_path.rglob("*.tmp")]  # atomic writes leave no temporary files


def test_metric_selection(pets_results):
    result = _run(
        "--gt", PETS, "--results", pets_results / "PETS09-S2L1.txt", "--metrics", "identity"
    )
    assert result.exit_code == 0, result.output
    assert "IDF1" in result.stdout and "HOTA" not in result.stdout


@pytest.mark.skipif(not FIXTURE.is_file(), reason="teta fixture missing")
def test_tao_teta_table_and_json(tmp_path):
    case = json.loads(FIXTURE.read_text())["cases"][2]
    (tmp_path / "gt.json").write_text(json.dumps(case["gt"]))
    (tmp_path / "res.json").write_text(json.dumps(case["predictions"]))
    result = _run(
        "--gt",
        tmp_path / "gt.json",
        "--results",
        tmp_path / "res.json",
        "--json",
        tmp_path / "o.json",
    )
    assert result.exit_code == 0, result.output
    for word in ("TETA", "AssocA", "ClsA", "person", "zebra", "average", "base", "novel"):
        assert word in result.stdout
    data = json.loads((tmp_path / "o.json").read_text())
    assert set(data["per_class"]) == {"person", "car", "dog", "zebra", "kite"}
    assert (
        "{0:1.5g}".format(100 * data["combined"]["TETA"])
        == case["expected"]["average"]["TETA"]["50"][0]
    )
    assert set(data["open_vocabulary"]) == {"base", "novel"}


def test_missing_ground_truth(tmp_path, pets_results):
    _assert_one_line_error(_run("--gt", tmp_path / "nope", "--results", pets_results), "not found")


def test_mismatched_sequence_names(tmp_path):
    write_results(perturb(load_gt(PETS), "perfect", 0), tmp_path / "PETS09-S2L2.txt")
    _assert_one_line_error(_run("--gt", PETS, "--results", tmp_path), "PETS09-S2L1", "PETS09-S2L2")


def test_malformed_line(tmp_path):
    (tmp_path / "PETS09-S2L1.txt").write_text(
        "1,1,10,10,20,20,1,-1,-1,-1\n2,1,ten,10,20,20,1,-1,-1,-1\n"
    )
    _assert_one_line_error(_run("--gt", PETS, "--results", tmp_path), "line 2", "PETS09-S2L1.txt")


def test_frame_outside_sequence(tmp_path):
    (tmp_path / "PETS09-S2L1.txt").write_text("170,1,10,10,20,20,1,-1,-1,-1\n")
    _assert_one_line_error(_run("--gt", PETS, "--results", tmp_path), "170", "seqLength")


def test_duplicate_id_in_a_frame(tmp_path):
    (tmp_path / "PETS09-S2L1.txt").write_text("3,1,10,10,20,20,1\n3,1,50,10,20,20,1\n")
    _assert_one_line_error(_run("--gt", PETS, "--results", tmp_path), "id 1 twice")


@pytest.mark.parametrize(
    "option, value, word",
    [
        ("--metrics", "hota,motx", "motx"),
        ("--metrics", "teta", "not available"),
        ("--format", "kitti", "kitti"),
        ("--iou", "poly", "--iou"),
    ],
)
def test_bad_options(pets_results, option, value, word):
    _assert_one_line_error(_run("--gt", PETS, "--results", pets_results, option, value), word)


def test_bad_json(tmp_path):
    (tmp_path / "gt.json").write_text('{"videos": [')
    (tmp_path / "res.json").write_text("[]")
    _assert_one_line_error(
        _run("--gt", tmp_path / "gt.json", "--results", tmp_path / "res.json", "--format", "tao"),
        "JSON",
    )


def test_tao_result_without_track_id(tmp_path):
    gt = {
        "videos": [{"id": 1, "name": "v"}],
        "images": [{"id": 1, "video_id": 1, "frame_index": 0}],
        "annotations": [],
        "categories": [],
    }
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])
    )
    _assert_one_line_error(
        _run("--gt", tmp_path / "gt.json", "--results", tmp_path / "res.json"), "track_id"
    )


def test_malformed_bdd_box(tmp_path):
    frame = {"name": "a.jpg", "videoName": "v", "frameIndex": 0}
    gt = [{**frame, "labels": [{"id": "1", "category": "car", "box2d": {"x1": 0, "y1": 0}}]}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps([{**frame, "labels": []}]))
    result = _run(
        "--gt", tmp_path / "gt.json", "--results", tmp_path / "res.json", "--format", "bdd"
    )
    _assert_one_line_error(result, "malformed", "x2")


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_unwritable_report_path_fails_before_scoring(tmp_path, pets_results, monkeypatch, option):
    import masa.eval.runner

    def never(*args, **kwargs):
        raise AssertionError("scored before checking the report path")

    monkeypatch.setattr(masa.eval.runner, "evaluate", never)
    (tmp_path / "a_file").write_text("")
    result = _run("--gt", PETS, "--results", pets_results, option, tmp_path / "a_file" / "m.out")
    _assert_one_line_error(result, option, "which is a file")
    _assert_one_line_error(_run("--gt", PETS, "--results", pets_results, option, tmp_path), "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
