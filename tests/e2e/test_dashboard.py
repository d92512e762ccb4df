"""The department dashboard in Chromium, on the demo department: every chart drawn with data, the numbers beside
them, the CSV downloaded."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from ris.demo import DEMO_PASSWORD
from scheduling import demo as scheduling_demo

CHARTS = ["chart-turnaround", "chart-per-day", "chart-rooms", "chart-no-show"]

# For each canvas: the Chart.js chart drawn on it, as {datasets, points, values}: how many datasets, how many data
# points in all, and the numbers among them (null points left out).
DRAWN = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  if (!chart) return null;
  const data = chart.data.datasets.flatMap((dataset) => dataset.data);
  return {
    datasets: chart.data.datasets.length,
    points: data.length,
    values: data.filter((value) => typeof value === "number"),
    labels: chart.data.labels.length,
  };
}"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_administrator_sees_the_demo_department_on_the_dashboard_and_downloads_the_csv(
    live_server, page, artifacts, monkeypatch
):
    # The dashboard shows the last 30 days: the demo's past days (and today), not the two weeks booked ahead.
    monkeypatch.setattr(scheduling_demo, "DAYS_AHEAD", 1)
    call_command("seed_demo", force=True, stdout=io.StringIO())

    page.goto(live_server.url)
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Department dashboard")).to_be_visible()
    page.wait_for_load_state("load")  # Chart.js and the page's script (end of the page) have run

    drawn = {chart: page.evaluate(DRAWN, chart) for chart in CHARTS}
    for chart, figures in drawn.items():
        assert figures is not None, f"{chart}: no chart drawn"
        assert figures["datasets"] > 0, chart
        assert figures["labels"] > 0, chart
        assert figures["values"], f"{chart}: no numbers among {figures['points']} points"
    assert sum(drawn["chart-per-day"]["values"]) > 0, "the demo has exams performed on past days"
    assert max(drawn["chart-rooms"]["values"]) > 0, "the demo's rooms are booked"
    assert max(drawn["chart-turnaround"]["values"]) > 0, "the demo's radiologist signed reports"
    for canvas in page.locator("canvas").all():
        assert canvas.bounding_box()["height"] > 100  # laid out, not collapsed

    # The numbers beside the charts.
    expect(page.locator("#table-turnaround tbody tr.total th")).to_have_text("All")
    expect(page.locator("#table-per-day tbody tr")).not_to_have_count(0)
    expect(page.locator("#table-rooms tbody tr.total td").last).to_have_text(re.compile(r"^\d+\.\d%$"))
    expect(page.locator("#table-no-show tbody tr.total td").first).not_to_have_text("0")
    expect(page.locator('[data-figure="queue-depth"]')).to_have_text(re.compile(r"^\d+$"))
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"dashboard_\d{8}-\d{8}_all\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["section", "key", "measure", "value"]
    sections = {row[0] for row in rows[1:]}
    assert sections == {
        "period",
        "order_to_exam",
        "exam_to_final",
        "exams_per_day",
        "room_utilisation",
        "no_show",
        "now",
    }
