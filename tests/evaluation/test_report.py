"""Markdown and JSON reports."""

from __future__ import annotations

import json

from blackbox_saliency.evaluation import EvaluationOptions, build_methods, evaluate, open_dataset
from blackbox_saliency.evaluation.report import report_columns, to_markdown, write_report
from blackbox_saliency.metrics import default_metrics


def test_report_files_have_every_column(tiny_imagenet, val_dev, tmp_path):
    data = open_dataset(val_dev, size=tiny_imagenet.input_size)
    methods = build_methods(["center", "full", "gt"], tiny_imagenet)
    result = evaluate(
        tiny_imagenet, data, methods, EvaluationOptions(limit=2, progress=False), default_metrics(deletion_steps=2)
    )
    md, js = write_report(result, tmp_path / "out" / "table.v1", title="Tiny", command="blackbox-saliency evaluate ...")
    assert md.name == "table.v1.md" and js.name == "table.v1.json"
    text = md.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| method"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [c.title for c in report_columns(result)]
    assert header.startswith("| method | images | saliency, source crop ↓ | log area | log p | saliency, view crop ↓")
    assert header.endswith("| deletion AUC ↓ | insertion AUC ↑ | s / image |")
    assert "| gt | 2 |" in text and "blackbox-saliency evaluate ..." in text
    data = json.loads(js.read_text())
    assert data["command"] == "blackbox-saliency evaluate ..."
    assert [row["method"] for row in data["rows"]] == ["center", "full", "gt"]
    assert set(data["rows"][0]) >= {c.key for c in report_columns(result)}
    assert "per_image" not in data  # per-image values only on request
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temporary file
    _, js = write_report(result, tmp_path / "with", per_image=True)
    assert json.loads(js.read_text())["per_image"]["gt"]["names"] == [
        "ILSVRC2012_val_00000801.JPEG",
        "ILSVRC2012_val_00000901.JPEG",
    ]


def test_missing_metrics_print_as_na(tiny_imagenet, cifar_npz):
    data = open_dataset(cifar_npz, size=(32, 32))
    options = EvaluationOptions(limit=1, target="predicted", progress=False)
    result = evaluate(
        tiny_imagenet, data, build_methods(["full"], tiny_imagenet), options, default_metrics(deletion_steps=0)
    )
    row = next(line for line in to_markdown(result).splitlines() if line.startswith("| full"))
    # no originals (3 source-crop cells), no boxes (3 localisation errors, the alphas, pointing), no curves (2)
    assert row.count("n/a") == 10
