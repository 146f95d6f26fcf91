"""Tracking evaluation: HOTA, CLEAR, Identity (TrackEval-exact) and TETA (`teta`-exact).

    from masa.eval import evaluate
    result = evaluate("data/mot", "results/", format="mot")
    result.combined["HOTA"], result.per_sequence["PETS09-S2L1"]["IDF1"]

Metric functions are pure functions of a sequence's `FramePairs` table (see `masa.eval.similarity`).
This subpackage needs no torch (importing the `masa` package itself currently does).
"""

from __future__ import annotations

from masa.eval.clear import ClearCounts, clear_fields, clear_sequence, combine_clear
from masa.eval.hota import HotaCounts, combine_hota, hota_fields, hota_sequence
from masa.eval.identity import IdentityCounts, combine_identity, identity_fields, identity_sequence
from masa.eval.readers import EvalDataset, RawSequence, read_bdd, read_mot
from masa.eval.runner import EvalResult, detect_format, evaluate, evaluate_dataset
from masa.eval.similarity import FramePairs
from masa.eval.teta import TetaCounts, combine_teta, read_tao, teta_fields, teta_sequence

__all__ = [
    "ClearCounts",
    "EvalDataset",
    "EvalResult",
    "FramePairs",
    "HotaCounts",
    "IdentityCounts",
    "RawSequence",
    "TetaCounts",
    "clear_fields",
    "clear_sequence",
    "combine_clear",
    "combine_hota",
    "combine_identity",
    "combine_teta",
    "detect_format",
    "evaluate",
    "evaluate_dataset",
    "hota_fields",
    "hota_sequence",
    "identity_fields",
    "identity_sequence",
    "read_bdd",
    "read_mot",
    "read_tao",
    "teta_fields",
    "teta_sequence",
]
