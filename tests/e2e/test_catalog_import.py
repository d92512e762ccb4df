"""The catalog import in Chromium: a CSV uploaded on the page is imported, the bar reaches 100% with the counts and
the refused row; on a running import the bar follows the job and tells the time left."""

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import expect

from ris.models import CatalogImport, ProcedureType, Role
from tests.factories import TEST_PASSWORD, UserFactory

CSV = """code,name,modality,cpt_code,duration_minutes,body_part,preparation,active
CTHEAD,CT head without contrast,CT,70450,15,HEAD,,yes
MRBRAIN,MRI brain without contrast,MR,70551,40,BRAIN,Remove metal.,yes
USABD,Ultrasound abdomen,XX,76700,20,ABDOMEN,Fasting 6 hours,yes
"""


def sign_in(page, live_server) -> None:
    UserFactory(role=Role.ADMIN, username="chief")
    page.goto(live_server.url)
    page.get_by_label("Username").fill("chief")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_an_uploaded_csv_is_imported_and_the_bar_reaches_100_percent_with_the_counts(
    live_server, page, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    sign_in(page, live_server)
    page.get_by_role("link", name="Import the procedure catalog").click()
    page.get_by_label("Catalog CSV file").set_input_files(
        files=[{"name": "catalog.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("heading", name="Catalog import #")).to_be_visible()
    expect(page.locator("#import-bar")).to_have_js_property("value", 100)
    expect(page.locator("#import-status")).to_have_text("Done")
    expect(page.locator("#import-counts")).to_have_text("2 created, 0 updated, 1 refused.")
    refused = "modality: 'XX' is not a modality of the RIS (CR, CT, DX, MG, MR, NM, PT, RF, US, XA)."
    expect(page.locator("#import-errors td")).to_have_text(["4", refused])
    assert set(ProcedureType.objects.values_list("code", flat=True)) == {"CTHEAD", "MRBRAIN"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_bar_follows_a_running_import_and_tells_the_time_left(live_server, page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    sign_in(page, live_server)
    job = CatalogImport(
        file_name="big.csv",
        actor="chief",
        status=CatalogImport.Status.RUNNING,
        rows_total=4,
        started_at=timezone.now() - timedelta(seconds=20),
    )
    job.file.save("big.csv", ContentFile(CSV.encode()), save=False)
    job.save()
    page.goto(f"{live_server.url}/administration/catalog/import/{job.pk}/")
    bar = page.locator("#import-bar")
    expect(bar).to_have_attribute("value", "0")
    expect(page.locator("#import-eta")).to_be_hidden()  # no row done yet: no rate, no estimate

    CatalogImport.objects.filter(pk=job.pk).update(rows_done=2, created_count=2)  # as the task commits its progress
    expect(bar).to_have_js_property("value", 50)
    expect(page.locator("#import-done")).to_have_text("2")
    expect(page.locator("#import-eta")).to_have_text(re.compile(r"^about 2\d s left$"))

    CatalogImport.objects.filter(pk=job.pk).update(
        rows_done=4,
        created_count=3,
        errors=[{"row": 5, "message": "cpt code: 'X' is not a CPT code."}],
        status=CatalogImport.Status.DONE,
        finished_at=timezone.now(),
    )
    expect(bar).to_have_js_property("value", 100)
    expect(page.locator("#import-status")).to_have_text("Done")
    expect(page.locator("#import-counts")).to_have_text("3 created, 0 updated, 1 refused.")
    expect(page.locator("#import-errors td")).to_have_text(["5", "cpt code: 'X' is not a CPT code."])
    expect(page.locator("#import-eta")).to_be_hidden()
