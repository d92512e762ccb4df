"""The export batch page in Chromium: the progress bar follows the running export, then the files are offered."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import ExportBatch
from ris.models import Role
from tests.factories import TEST_PASSWORD, UserFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_progress_bar_moves_while_the_export_runs_and_the_files_appear(live_server, page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / ExportBatch.FOLDER).mkdir(parents=True)
    (tmp_path / ExportBatch.FOLDER / "B1.csv").write_text("batch\n")
    clerk = UserFactory(role=Role.BILLING, username="clerk")
    today = timezone.localdate()
    batch = ExportBatch.objects.create(
        number="B1", date_from=today, date_to=today, created_by=clerk, status="RUNNING", claims_total=4
    )
    page.goto(live_server.url)
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/billing/batches/{batch.pk}/")
    bar = page.locator("#batch-bar")
    expect(bar).to_have_attribute("value", "0")

    ExportBatch.objects.filter(pk=batch.pk).update(claims_done=2)  # as the export task commits a chunk
    expect(bar).to_have_js_property("value", 50)
    expect(page.locator("#batch-done")).to_have_text("2")

    ExportBatch.objects.filter(pk=batch.pk).update(
        claims_done=4, status="DONE", csv_file=f"{ExportBatch.FOLDER}/B1.csv"
    )
    expect(bar).to_have_js_property("value", 100)
    expect(page.locator("#batch-status")).to_have_text("Done")
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
