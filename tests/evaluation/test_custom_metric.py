"""A new metric is one object: added to the default list, it gets its column, legend, JSON values and notes."""

from __future__ import annotations

import json

import pytest

from blackbox_saliency import InputError
from blackbox_saliency.evaluation import EvaluationOptions, build_methods, evaluate, open_dataset, write_report
from blackbox_saliency.metrics import Column, Metric, MetricBatch, default_metrics, mean_or_none


class MaskCoverage(Metric):
    """The mean mask value per image (the share of the image a mask keeps), higher is better for this test."""

    name = "coverage"
    direction = "higher"
    legend = "Coverage: the mean mask value."
    columns = (Column("coverage", "mask coverage", "{:.2f}", direction="higher"),)

    def reset(self) -> None:
        self.values: list[float] = []
        self.batches = 0

    def update(self, batch: MetricBatch) -> None:
        assert batch.boxes is not None and batch.sources is not None and batch.method_images is not None
        self.values += batch.masks.flatten(1).mean(dim=1).tolist()
        self.batches += 1

    def summary(self) -> dict[str, float | None]:
        return {"coverage": mean_or_none(self.values)}

    def per_image(self) -> dict[str, list]:
        return {"coverage": self.values}

    def notes(self, method: str) -> list[str]:
        return [f"`{method}`: coverage over {self.batches} batch(es)."]


@pytest.fixture
def run(tiny_imagenet, val_dev):
    data = open_dataset(val_dev, size=tiny_imagenet.input_size)
    methods = build_methods(["center", "full"], tiny_imagenet)

    def evaluate_with(metrics):
        return evaluate(tiny_imagenet, data, methods, EvaluationOptions(limit=3, batch_size=2, progress=False), metrics)

    return evaluate_with


def test_a_metric_added_with_one_edit_shows_in_both_reports(run, tmp_path):
    result = run([*default_metrics(deletion_steps=0), MaskCoverage()])
    md, js = write_report(result, tmp_path / "report", per_image=True)
    text = md.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| method"))
    assert header.endswith("| pointing game ↑ | deletion AUC ↓ | insertion AUC ↑ | mask coverage ↑ | s / image |")
    full_row = next(line for line in text.splitlines() if line.startswith("| full |"))
    assert "| 1.00 |" in full_row
    assert "Coverage: the mean mask value. s / image:" in text
    assert "- `center`: coverage over 2 batch(es)." in text  # 3 images in batches of 2
    report = json.loads(js.read_text())
    rows = {row["method"]: row for row in report["rows"]}
    assert rows["full"]["coverage"] == 1.0 and 0.0 < rows["center"]["coverage"] < 1.0
    assert list(rows["full"])[-3:] == ["coverage", "seconds_per_image", "description"]
    assert report["per_image"]["full"]["coverage"] == [1.0, 1.0, 1.0]
    assert rows["center"]["saliency"] == pytest.approx(
        result.rows[0].saliency
    )  # the default metrics are all still there


def test_a_metric_list_replaces_the_default_one(run):
    result = run([MaskCoverage()])
    assert [c.key for c in result.columns] == ["coverage"]
    assert set(result.rows[1].to_dict()) == {"method", "images", "coverage", "seconds_per_image", "description"}
    assert result.rows[1].coverage == 1.0
    assert "crop_from" not in result.meta  # the saliency metric's facts come with it only


def test_metrics_that_would_clash_are_refused(run):
    class Images(MaskCoverage):
        name = "images"
        columns = (Column("images", "images"),)

    with pytest.raises(InputError, match="hide the report's own"):
        run([Images()])
    with pytest.raises(InputError, match="used twice"):
        run([MaskCoverage(), MaskCoverage()])
    with pytest.raises(InputError, match="Metric objects"):
        run(["coverage"])
