"""Runs in a separate venv with label-studio-sdk: checks masa's Label Studio export with what the
SDK ships for it, and prints every keyframe as `[frame, track id, x, y, w, h, enabled]` (pixels).

Checks, all from `label_studio_sdk`:
- `LabelInterface(config).validate()`: the labeling config is valid;
- `TaskValue` / `PredictionValue` (pydantic models of a task and a prediction) accept the JSON;
- each object tag's `$variable` is in the task's data;
- `LabelInterface.validate_prediction(..., return_errors=True)`: every region's from_name/to_name
  and type match the config and its value passes the VideoRectangle value model;
- each region's value validates against the control's own JSON schema (`to_json_schema()`), and
  its labels are labels of the config's `<Labels>` tag.
(The SDK's converter has no video-rectangle conversion, so it cannot be used here.)

Usage: python check_labelstudio.py TASKS_JSON CONFIG_XML WIDTH HEIGHT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.objects import PredictionValue, TaskValue


def main() -> None:
    tasks_path, config_path, width, height = (
        sys.argv[1],
        sys.argv[2],
        float(sys.argv[3]),
        float(sys.argv[4]),
    )
    interface = LabelInterface(Path(config_path).read_text())
    interface.validate()
    labels = {
        label
        for control in interface.controls
        if control.tag == "Labels"
        for label in control.labels
    }
    tasks = json.loads(Path(tasks_path).read_text())
    rows = []
    for task in tasks:
        TaskValue(**task)
        for obj in interface.objects:
            assert (
                not obj.value_is_variable or task["data"].get(obj.value_name) is not None
            ), obj.value_name
        for prediction in task["predictions"]:
            PredictionValue(**prediction)
            errors = interface.validate_prediction(prediction, return_errors=True)
            assert not errors, errors
            for region in prediction["result"]:
                control = interface.get_control(region["from_name"])
                jsonschema.validate(region["value"], control.to_json_schema())
                assert set(region["value"]["labels"]) <= labels, (region["value"]["labels"], labels)
                for key in region["value"]["sequence"]:
                    rows.append(
                        [
                            key["frame"],
                            int(region["id"]),
                            key["x"] * width / 100,
                            key["y"] * height / 100,
                            key["width"] * width / 100,
                            key["height"] * height / 100,
                            key["enabled"],
                        ]
                    )
    print(json.dumps({"labels": sorted(labels), "rows": rows}))


if __name__ == "__main__":
    main()
