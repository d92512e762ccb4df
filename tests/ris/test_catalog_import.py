"""Catalog import from CSV: every row through procedure_type_save, refused rows kept with their line and reason,
bad files refused before anything is written; the administrators' pages with their progress; the terminal command."""

import io
import logging
import sys
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from ris import imports
from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import CatalogImport, ProcedureType, Role
from ris.tasks import import_catalog
from tests.factories import ModalityFactory, ProcedureTypeFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "code,name,modality,cpt_code,duration_minutes,body_part,preparation,active"
GOOD = f"""{HEADER}
CTHEAD,CT head without contrast,CT,70450,15,HEAD,,yes
MRBRAIN,MRI brain without contrast,MR,70551,40,BRAIN,"Remove metal.
No food for 4 hours.",yes
USABD,Ultrasound abdomen,us,76700,,ABDOMEN,Fasting 6 hours,no
"""


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"


@pytest.fixture
def admin(db):
    return UserFactory(role=Role.ADMIN, username="chief")


def upload(text: str, name: str = "catalog.csv", encoding: str = "utf-8") -> ContentFile:
    return ContentFile(text.encode(encoding), name=name)


def run(text: str, actor, **kwargs) -> CatalogImport:
    job = imports.catalog_import_create(upload=upload(text), acting_user=actor, queue=False)
    return imports.catalog_import_run(job.pk, **kwargs)


def imported_files(settings) -> list:
    folder = settings.MEDIA_ROOT / CatalogImport.FOLDER
    return sorted(folder.iterdir()) if folder.exists() else []


# --- the service ---------------------------------------------------------------------------------------------------


def test_an_import_adds_new_codes_and_changes_known_ones(admin):
    ProcedureTypeFactory(code="CTHEAD", name="Old name", cpt_code="70450", default_duration_minutes=20)
    job = run(GOOD, admin)
    assert (job.status, job.rows_total, job.rows_done, job.created_count, job.updated_count, job.errors) == (
        "DONE",
        3,
        3,
        2,
        1,
        [],
    )
    head, brain, abdomen = (ProcedureType.objects.get(code=code) for code in ("CTHEAD", "MRBRAIN", "USABD"))
    assert (head.name, head.default_duration_minutes) == ("CT head without contrast", 15)
    assert (brain.modality.code, brain.preparation) == ("MR", "Remove metal.\nNo food for 4 hours.")
    assert (abdomen.modality.code, abdomen.default_duration_minutes, abdomen.active) == ("US", 15, False)


def test_a_refused_row_is_kept_with_its_line_and_reason_and_the_others_are_imported(admin):
    text = f"""{HEADER}
CTHEAD,CT head,CT,70450,15,HEAD,,yes
MRBRAIN,MRI brain,MR,7055,40,BRAIN,"Two
lines",yes

USABD,Ultrasound abdomen,XX,76700,20,ABDOMEN,,yes
CTCHEST,CT chest,CT,71250,half an hour,CHEST,,yes
CTSPINE,CT spine,CT,72125,15,SPINE,,maybe
DXHAND,X-ray hand,DX,73130,5,HAND,,1,extra
DXCHEST,X-ray chest,DX,71046,5,CHEST,,1
"""
    job = run(text, admin)
    assert job.status == "DONE"
    assert (job.rows_done, job.created_count, job.updated_count) == (7, 2, 0)
    assert job.errors == [
        {"row": 3, "message": "cpt code: '7055' is not a CPT code (five characters: four digits and a digit, F or T)."},
        {"row": 6, "message": "modality: 'XX' is not a modality of the RIS (CR, CT, DX, MG, MR, NM, PT, RF, US, XA)."},
        {"row": 7, "message": "duration minutes: 'half an hour' is not a whole number of minutes."},
        {"row": 8, "message": "active: 'maybe' is neither yes nor no."},
        {"row": 9, "message": "9 cells where the header has 8 columns; check the quoting."},
    ]
    assert set(ProcedureType.objects.values_list("code", flat=True)) == {"CTHEAD", "DXCHEST"}


def test_sex_and_age_limit_columns_are_imported_and_a_blank_cell_clears_a_limit(admin):
    ProcedureTypeFactory(code="CTLUNGSCR", cpt_code="71271", min_age_years=40, max_age_years=90)
    text = """code,name,modality,cpt_code,allowed_sex,min_age,max_age
USOB1,US obstetric first trimester,US,76801,female,12,55
USSCROTUM,US scrotum,US,76870,M,,
CTLUNGSCR,CT lung screening,CT,71271,any,50,
USBAD,US bad,US,76700,woman,,
USOLD,US old,US,76700,,60,50
USAGE,US age,US,76700,,twelve,
"""
    job = run(text, admin)
    limits = {
        p.code: (p.allowed_sex, p.min_age_years, p.max_age_years)
        for p in ProcedureType.objects.filter(code__in=["USOB1", "USSCROTUM", "CTLUNGSCR"])
    }
    assert limits == {"USOB1": ("F", 12, 55), "USSCROTUM": ("M", None, None), "CTLUNGSCR": ("A", 50, None)}
    assert job.errors == [
        {"row": 5, "message": "allowed sex: 'woman' is not any, female or male."},
        {"row": 6, "message": "The minimum age is above the maximum age."},
        {"row": 7, "message": "min age: 'twelve' is not a whole number of years."},
    ]


def test_a_service_rule_refuses_a_row_with_its_own_message(admin):
    job = run(f"{HEADER}\nCTLONG,CT marathon,CT,70450,900,HEAD,,yes\n", admin)
    assert job.errors == [
        {"row": 2, "message": "Constraint “procedure_duration_between_1_and_720_minutes” is violated."}
    ]
    assert not ProcedureType.objects.filter(code="CTLONG").exists()


@pytest.mark.parametrize(
    ("content", "refusal"),
    [
        (b"", "The file is empty"),
        (b"code;name;modality;cpt_code\nA;B;CT;70450\n", "separated by commas"),
        (b"code,name,modality,cpt,colour\nA,B,CT,70450,red\n", "Unknown columns: 'cpt', 'colour'"),
        (b"code,name,modality\nA,B,CT\n", "Required columns missing: cpt_code"),
        (b"code,name,modality,cpt_code,name\nA,B,CT,70450,C\n", "Columns named twice: name"),
        (b"code,name,modality,cpt_code\n", "no rows to import"),
        ("code,name,modality,cpt_code\nCT1,Tête,CT,70450\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_is_no_catalog_csv_is_refused_before_anything_is_written(admin, settings, content, refusal):
    with pytest.raises(ApplicationError, match=refusal):
        imports.catalog_import_create(upload=ContentFile(content, name="bad.csv"), acting_user=admin)
    assert not CatalogImport.objects.exists()
    assert imported_files(settings) == []


def test_a_byte_order_mark_and_upper_case_headers_are_accepted(admin):
    job = run("\ufeffCODE,Name,MODALITY,cpt_code\r\nCTHEAD,CT head,ct,70450\r\n", admin)
    assert (job.created_count, job.errors) == (1, [])
    assert ProcedureType.objects.get(code="CTHEAD").modality.code == "CT"


def test_history_and_log_name_the_user_who_imported(admin, caplog):
    caplog.set_level(logging.INFO, logger="ris.services")
    job = run(GOOD, admin)
    history = job.history.order_by("history_date", "history_id")
    assert [(row.history_actor, row.history_user, row.status) for row in history] == [
        ("chief", admin, "QUEUED"),
        ("chief", admin, "RUNNING"),
        ("chief", admin, "DONE"),
    ]
    assert [row.history_change_reason for row in history] == ["queued", "started", "imported"]
    saved = [record.getMessage() for record in caplog.records if "saved by" in record.getMessage()]
    assert len(saved) == 3
    assert all(message.endswith("saved by chief") for message in saved)


def test_an_import_from_the_terminal_is_recorded_for_the_interface(db):
    job = run(GOOD, Interface("CLI", "import_catalog"))
    assert (job.created_by, job.actor, job.created_count) == (None, "CLI:import_catalog", 3)
    assert job.history.latest().history_actor == "CLI:import_catalog"


def test_progress_is_reported_every_row_and_committed_every_few_rows(admin, monkeypatch):
    monkeypatch.setattr(imports, "PROGRESS_EVERY_ROWS", 2)
    monkeypatch.setattr(imports, "PROGRESS_EVERY_SECONDS", 3600)
    rows = "\n".join(f"P{n},Procedure {n},CT,70450" for n in range(5))
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total, CatalogImport.objects.values_list("rows_done", flat=True).get()))

    job = run(f"code,name,modality,cpt_code\n{rows}\n", admin, progress=progress)
    # (done, total, rows_done as the page reads it): the page's count follows in steps of two
    assert seen == [(1, 5, 0), (2, 5, 0), (3, 5, 2), (4, 5, 2), (5, 5, 4)]
    assert (job.rows_done, job.percent) == (5, 100)


def test_the_task_imports_a_queued_job_once(admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = imports.catalog_import_create(upload=upload(GOOD), acting_user=admin)
    job.refresh_from_db()
    assert (job.status, job.created_count) == ("DONE", 3)
    assert import_catalog(job.pk) is None  # taken already: left alone
    assert import_catalog(job.pk + 1000) is None  # gone


def test_an_unexpected_failure_marks_the_job_failed_and_keeps_what_was_imported(admin, monkeypatch):
    calls = []
    real_save = imports.procedure_type_save

    def save_then_break(**kwargs):
        calls.append(kwargs["code"])
        if len(calls) == 2:
            raise OSError("disk gone")
        return real_save(**kwargs)

    monkeypatch.setattr(imports, "procedure_type_save", save_then_break)
    job = run(GOOD, admin)
    assert (job.status, job.error) == ("FAILED", "The import stopped: disk gone")
    assert (job.rows_done, job.created_count) == (1, 1)
    assert list(ProcedureType.objects.values_list("code", flat=True)) == ["CTHEAD"]


# --- the pages -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.BILLING])
def test_only_administrators_may_use_the_import_pages(client_for, admin, role):
    job = run(GOOD, admin)
    client = client_for(role)
    for name, args in (
        ("ris:catalog_import", []),
        ("ris:catalog_import_job", [job.pk]),
        ("ris:catalog_import_status", [job.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 403
    refused = client.post(reverse("ris:catalog_import"), {"file": SimpleUploadedFile("c.csv", GOOD.encode())})
    assert refused.status_code == 403
    assert CatalogImport.objects.count() == 1


def test_upload_then_follow_the_job_to_its_end(client, admin, django_capture_on_commit_callbacks):
    ProcedureTypeFactory(code="USABD", modality=ModalityFactory(code="US"), cpt_code="76700")
    client.force_login(admin)
    form = client.get(reverse("ris:catalog_import")).content.decode()
    assert 'enctype="multipart/form-data"' in form
    bad = GOOD.replace("MRBRAIN,MRI brain without contrast,MR,70551", "MRBRAIN,MRI brain without contrast,MR,7055")
    with django_capture_on_commit_callbacks() as queued:  # the import waits for the commit: held back here
        response = client.post(reverse("ris:catalog_import"), {"file": SimpleUploadedFile("catalog.csv", bad.encode())})
    job = CatalogImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("ris:catalog_import_job", args=[job.pk])

    waiting = client.get(response["Location"]).content.decode()
    assert '<progress id="import-bar" max="100" value="0">' in waiting
    assert "js/progress.js" in waiting
    assert reverse("ris:catalog_import_status", args=[job.pk]) in waiting
    state = client.get(reverse("ris:catalog_import_status", args=[job.pk])).json()
    assert (state["status"], state["rows_done"], state["rows_total"], state["eta_seconds"]) == ("QUEUED", 0, 3, None)

    for callback in queued:  # the commit: the import task runs (in-process in tests)
        callback()
    state = client.get(reverse("ris:catalog_import_status", args=[job.pk])).json()
    assert {key: state[key] for key in ("status", "rows_done", "rows_total", "percent", "created", "updated")} == {
        "status": "DONE",
        "rows_done": 3,
        "rows_total": 3,
        "percent": 100,
        "created": 1,
        "updated": 1,
    }
    assert (state["refused"], state["eta_seconds"], state["eta_text"]) == (1, None, "")
    assert state["error_rows"] == [
        ["3", "cpt code: '7055' is not a CPT code (five characters: four digits and a digit, F or T)."]
    ]
    done = client.get(reverse("ris:catalog_import_job", args=[job.pk])).content.decode()
    assert '<progress id="import-bar" max="100" value="100">' in done
    assert "<td>3</td><td>cpt code: &#x27;7055&#x27; is not a CPT code" in done
    assert 'http-equiv="refresh"' not in done
    assert "catalog.csv" in client.get(reverse("ris:catalog_import")).content.decode()


def test_the_status_of_a_running_import_estimates_the_time_left(client_for, admin):
    job = run(GOOD, admin)
    CatalogImport.objects.filter(pk=job.pk).update(
        status="RUNNING", rows_done=50, rows_total=100, started_at=timezone.now() - timedelta(seconds=10)
    )
    client = client_for(Role.ADMIN)
    state = client.get(reverse("ris:catalog_import_status", args=[job.pk])).json()
    assert (state["percent"], state["eta_seconds"], state["eta_text"]) == (50, 10, "about 10 s left")
    assert state["elapsed_text"] == "10 s"
    page = client.get(reverse("ris:catalog_import_job", args=[job.pk])).content.decode()
    assert "about 10 s left" in page
    assert 'http-equiv="refresh"' in page  # the fallback without JavaScript


def test_an_upload_that_is_no_catalog_csv_is_refused_on_the_form(client_for, settings):
    client = client_for(Role.ADMIN)
    bad = SimpleUploadedFile("catalog.csv", b"code,title\nA,B\n")
    response = client.post(reverse("ris:catalog_import"), {"file": bad})
    assert response.status_code == 200
    assert "Unknown columns: &#x27;title&#x27;" in response.content.decode()
    assert "This field is required." in client.post(reverse("ris:catalog_import")).content.decode()
    assert not CatalogImport.objects.exists()
    assert imported_files(settings) == []


# --- the terminal --------------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """stderr as a terminal: tqdm draws its bar only there."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """Install a Terminal as stderr; called in the test itself (pytest's capture takes stderr back after set-up)."""

    def install() -> Terminal:
        screen = Terminal()
        monkeypatch.setattr(sys, "stderr", screen)
        return screen

    return install


def test_the_command_imports_with_a_progress_bar_and_exits_0(db, tmp_path, terminal):
    path = tmp_path / "catalog.csv"
    path.write_text(GOOD)
    out, screen = io.StringIO(), terminal()
    call_command("import_catalog", str(path), stdout=out)
    assert "catalog import: 100%" in screen.getvalue()
    assert "3/3" in screen.getvalue()
    assert "3 of 3 rows, 3 created, 0 updated, 0 refused." in out.getvalue()
    assert CatalogImport.objects.get().actor == "CLI:import_catalog"


def test_the_command_lists_refused_rows_and_exits_1(admin, tmp_path, terminal):
    path = tmp_path / "catalog.csv"
    path.write_text(GOOD.replace(",MR,", ",XX,"))
    out, screen = io.StringIO(), terminal()
    with pytest.raises(CommandError, match=r"1 row\(s\) refused") as refusal:
        call_command("import_catalog", str(path), "--user", "chief", stdout=out)
    assert refusal.value.returncode == 1
    assert "2 created, 0 updated, 1 refused." in out.getvalue()
    assert "  line 3: modality: 'XX' is not a modality of the RIS" in out.getvalue()
    assert CatalogImport.objects.get().created_by == admin
    assert "catalog import: 100%" in screen.getvalue()


def test_the_command_refuses_a_bad_file_and_a_non_administrator_writing_nothing(admin, tmp_path, settings):
    path = tmp_path / "catalog.csv"
    path.write_text("code,name\nA,B\n")
    with pytest.raises(CommandError, match="Required columns missing: modality, cpt_code") as refusal:
        call_command("import_catalog", str(path))
    assert refusal.value.returncode == 1
    path.write_text(GOOD)
    UserFactory(role=Role.BILLING, username="clerk")
    with pytest.raises(CommandError, match="not an active administrator"):
        call_command("import_catalog", str(path), "--user", "clerk")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_catalog", str(tmp_path / "missing.csv"))
    assert not CatalogImport.objects.exists()
    assert not ProcedureType.objects.exists()
    assert imported_files(settings) == []


def test_a_refused_row_names_every_problem_it_has_not_only_the_first(admin):
    job = run(f"{HEADER}\nMRBRAIN,,XX,7055,half an hour,BRAIN,,maybe\n", admin)
    assert job.errors == [
        {
            "row": 2,
            "message": "modality: 'XX' is not a modality of the RIS (CR, CT, DX, MG, MR, NM, PT, RF, US, XA). "
            "duration minutes: 'half an hour' is not a whole number of minutes. "
            "active: 'maybe' is neither yes nor no. "
            "name: This field cannot be blank. "
            "cpt code: '7055' is not a CPT code (five characters: four digits and a digit, F or T).",
        }
    ]
    assert not ProcedureType.objects.filter(code="MRBRAIN").exists()


def test_a_row_of_readable_cells_names_every_field_the_service_refuses(admin):
    job = run(f"{HEADER}\nMRBRAIN,,MR,7055,40,BRAIN,,yes\n", admin)
    assert job.errors == [
        {
            "row": 2,
            "message": "name: This field cannot be blank. "
            "cpt code: '7055' is not a CPT code (five characters: four digits and a digit, F or T).",
        }
    ]
