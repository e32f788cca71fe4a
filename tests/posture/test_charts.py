from __future__ import annotations

import datetime as dt
import json

import plotly.graph_objects as go
import pytest

from posture import charts
from posture.checks.base import Area
from posture.scores import AreaScore, ScanScores
from posture.selectors.overview import TrendPoint

START = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)


def point(
    day: int,
    *,
    overall: float = 80.0,
    raw: float | None = None,
    coverage: float = 100.0,
    area_coverage: float | None = None,
    ruleset: str = "r1",
) -> TrendPoint:
    """A scan `day` days after START whose areas all score `overall`."""
    areas = [
        AreaScore(
            area=area.value,
            label=area.label,
            score=overall,
            raw_score=overall if raw is None else raw,
            coverage=coverage if area_coverage is None else area_coverage,
            weight=1,
        )
        for area in Area
    ]
    return TrendPoint(
        scan_id=day + 1,
        scanned_at=START + dt.timedelta(days=day),
        ruleset_version=ruleset,
        scores=ScanScores(
            scan_id=day + 1,
            areas=areas,
            overall=overall,
            raw_overall=overall if raw is None else raw,
            coverage=coverage,
        ),
    )


def trace(figure: dict, name: str) -> dict:
    return next(t for t in figure["data"] if t["name"] == name)


# Traces.
def test_trend_traces_areas_overall_and_raw():
    figure = charts.score_trend_figure([point(0), point(1)])
    names = {t["name"] for t in figure["data"]}
    assert len(figure["data"]) == len(Area) + 2
    assert names == {"Overall", "Overall (raw)", *(area.label for area in Area)}


def test_trend_legend_lists_overall_first():
    figure = charts.score_trend_figure([point(0)])
    ranked = sorted(figure["data"], key=lambda t: t["legendrank"])
    assert [t["name"] for t in ranked[:2]] == ["Overall", "Overall (raw)"]


def test_trend_overall_drawn_on_top():
    figure = charts.score_trend_figure([point(0)])
    assert figure["data"][-1]["name"] == "Overall"


def test_trend_x_is_naive_utc_scan_time():
    figure = charts.score_trend_figure([point(0), point(1)])
    assert trace(figure, "Overall")["x"] == ["2026-01-01 06:00:00", "2026-01-02 06:00:00"]


def test_trend_figure_valid_for_plotly():
    figure = charts.score_trend_figure([point(0), point(1, coverage=80.0), point(2, ruleset="r2", raw=50.0)])
    # plotly's own schema check: go.Figure raises ValueError on an unknown or invalid property.
    validated = go.Figure(figure)
    assert len(validated.data) == len(figure["data"])
    assert validated.layout.xaxis.rangeselector.buttons[0].count == 7


def test_trend_figure_is_json():
    figure = charts.score_trend_figure([point(0), point(1)])
    assert json.loads(json.dumps(figure)) == figure


# Raw score.
def test_trend_raw_hidden_while_equal():
    figure = charts.score_trend_figure([point(0), point(1)])
    raw = trace(figure, "Overall (raw)")
    assert raw["visible"] == "legendonly"
    assert raw["line"]["dash"] == "dash"


def test_trend_raw_shown_once_different():
    figure = charts.score_trend_figure([point(0), point(1, overall=90.0, raw=70.0)])
    raw = trace(figure, "Overall (raw)")
    assert raw["visible"] is True
    assert raw["y"] == [80.0, 70.0]


# Incomplete scans.
def test_trend_incomplete_scan_hollow():
    figure = charts.score_trend_figure([point(0), point(1, coverage=80.0)])
    assert trace(figure, "Overall")["marker"]["symbol"] == ["circle", "circle-open"]


def test_trend_incomplete_scan_labelled():
    figure = charts.score_trend_figure([point(0), point(1, coverage=80.0)])
    assert trace(figure, "Overall")["text"] == ["coverage 100 %", "incomplete: coverage 80 %"]


def test_trend_coverage_95_is_complete():
    figure = charts.score_trend_figure([point(0, coverage=95.0)])
    assert trace(figure, "Overall")["marker"]["symbol"] == ["circle"]


def test_trend_area_hollow_by_its_own_coverage():
    figure = charts.score_trend_figure([point(0, coverage=99.0, area_coverage=50.0)])
    assert trace(figure, "Overall")["marker"]["symbol"] == ["circle"]
    assert trace(figure, Area.ACCESS.label)["marker"]["symbol"] == ["circle-open"]


def test_trend_hover_shows_coverage_text():
    figure = charts.score_trend_figure([point(0)])
    assert "%{text}" in trace(figure, "Overall")["hovertemplate"]


def test_trend_many_scans_keep_only_incomplete_markers():
    points = [
        point(day, coverage=80.0 if day == 50 else 100.0) for day in range(charts.MAX_SCANS_WITH_MARKERS + 1)
    ]
    sizes = trace(charts.score_trend_figure(points), "Overall")["marker"]["size"]
    assert sizes[50] == charts.INCOMPLETE_MARKER_SIZE
    assert set(sizes[:50] + sizes[51:]) == {0}


def test_trend_few_scans_keep_every_marker():
    sizes = trace(charts.score_trend_figure([point(0), point(1)]), "Overall")["marker"]["size"]
    assert 0 not in sizes


# Ruleset changes.
def test_trend_vertical_line_at_ruleset_change():
    figure = charts.score_trend_figure([point(0), point(1), point(2, ruleset="r2")])
    (shape,) = figure["layout"]["shapes"]
    assert shape["x0"] == shape["x1"] == "2026-01-03 06:00:00"
    assert shape["yref"] == "paper"


def test_trend_ruleset_change_annotated():
    figure = charts.score_trend_figure([point(0), point(1, ruleset="r2")])
    (annotation,) = figure["layout"]["annotations"]
    assert annotation["text"] == "ruleset changed"
    assert annotation["hovertext"] == "Ruleset r1 → r2"


def test_trend_no_line_without_ruleset_change():
    figure = charts.score_trend_figure([point(0), point(1)])
    assert "shapes" not in figure["layout"]


# Range selector.
def test_trend_range_buttons():
    figure = charts.score_trend_figure([point(0), point(1)])
    buttons = figure["layout"]["xaxis"]["rangeselector"]["buttons"]
    assert [b["label"] for b in buttons] == ["7d", "30d", "90d", "365d", "All"]
    assert [b.get("count") for b in buttons[:4]] == [7, 30, 90, 365]
    assert {b.get("step") for b in buttons[:4]} == {"day"}
    assert buttons[4]["step"] == "all"


def test_trend_autorange_clipped_near_scans():
    figure = charts.score_trend_figure([point(0), point(400)])
    options = figure["layout"]["xaxis"]["autorangeoptions"]
    assert options["clipmin"] == "2025-12-31 06:00:00"
    assert options["clipmax"] == "2027-02-06 06:00:00"


def test_trend_empty_has_no_clip():
    assert "autorangeoptions" not in charts.score_trend_figure([])["layout"]["xaxis"]


# Sparklines.
def test_sparkline_fixed_scale():
    spark = charts.sparkline([100.0, 0.0])
    assert spark.lines == [
        f"{charts.SPARK_PAD},{charts.SPARK_PAD} "
        f"{charts.SPARK_WIDTH - charts.SPARK_PAD},{charts.SPARK_HEIGHT - charts.SPARK_PAD}"
    ]


def test_sparkline_breaks_at_missing_score():
    spark = charts.sparkline([50.0, 60.0, None, 70.0, 80.0])
    assert len(spark.lines) == 2
    assert spark.dots == []


def test_sparkline_lone_score_is_dot():
    spark = charts.sparkline([50.0, None, 70.0, 80.0])
    assert len(spark.lines) == 1
    assert len(spark.dots) == 1


def test_sparkline_end_marks_latest_score():
    spark = charts.sparkline([50.0, 100.0, None])
    assert spark.end == (charts.SPARK_WIDTH / 2, charts.SPARK_PAD)


def test_sparkline_change_first_to_last():
    spark = charts.sparkline([None, 50.0, 60.0, 72.5])
    assert spark.change == pytest.approx(22.5)


def test_sparkline_single_score_no_change():
    spark = charts.sparkline([70.0])
    assert spark.change is None
    assert spark.end == (
        charts.SPARK_WIDTH / 2,
        pytest.approx(charts.SPARK_PAD + 0.3 * (charts.SPARK_HEIGHT - 2 * charts.SPARK_PAD), abs=0.05),
    )


def test_sparkline_no_scores():
    spark = charts.sparkline([None, None])
    assert spark.lines == []
    assert spark.end is None
    assert spark.change is None
