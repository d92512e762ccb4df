"""The role matrix of docs/security.md, walked: every URL of the URLconf is in the table, and each row's method
is allowed or refused for each role and for anonymous callers exactly as the table says.

Allowed means the role check let the request through (any answer but a refusal; never a 5xx). Refused means 403
for a signed-in user, and for an anonymous caller the sign-in page (pages), 401/403 (API, FHIR) or the admin's own
sign-in page (Django admin). Every page a role may open is also checked for the CSRF token in each POST form.

After a deliberate change of access, regenerate the table with
    RIS_WRITE_ROLE_MATRIX=1 .venv/bin/pytest tests/security/test_role_matrix.py -m regenerate
and review the diff of docs/security.md: it is the reviewed record of who may do what.
"""

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.models import ExportBatch
from billing.services import claims_build
from clinical import services as clinical_services
from clinical.models import MRSafety, Observation
from reporting import services as reporting
from ris.models import CatalogImport, Role
from tests.billing.conftest import billable_exam, insured_patient
from tests.clinical.factories import contrast_allergy, observation
from tests.clinical.mr_factories import implant, mr_procedure
from tests.factories import (
    FacilityFactory,
    InboundMessageFactory,
    OutboundMessageFactory,
    PayerFactory,
    UserFactory,
    make_completed_exam,
    make_order,
    make_radiologist,
    npi_from,
)
from worklist.models import AvailabilityNotification, DicomDestination, MppsForward, PerformedProcedureStep
from worklist.workitems import workitem_of_exam

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
BEGIN, END = "<!-- role-matrix:begin -->", "<!-- role-matrix:end -->"
ROLES = [Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.BILLING, Role.ADMIN, Role.MR_SAFETY_OFFICER]
COLUMNS = [role.label for role in ROLES] + ["Anonymous"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ADMIN_SITE = "admin:*"  # one row for every URL of the Django admin site
YES, NO = "yes", "no"


# --- the URLconf ----------------------------------------------------------------------------------------------


def url_names() -> dict[str, str]:
    """Every URL pattern of the project by its namespaced name, with its route (the first one of a name)."""
    found: dict[str, str] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                name = (
                    f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<unnamed {prefix}{pattern.pattern}>"
                )
                found.setdefault(name, prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "/", "")
    return found


def row_name(url_name: str) -> str:
    return ADMIN_SITE if url_name.startswith("admin:") else url_name


# --- the table ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    allowed: dict[str, bool]  # column -> allowed


def table_rows(text: str | None = None) -> list[Row]:
    text = DOC.read_text() if text is None else text
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = []
    for line in body.strip().splitlines()[2:]:  # header and separator
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name, _path, method, *marks = cells
        name = name.strip("`")
        assert len(marks) == len(COLUMNS), line
        assert set(marks) <= {YES, NO}, line
        rows.append(Row(name, method, {column: mark == YES for column, mark in zip(COLUMNS, marks, strict=True)}))
    return rows


# --- the world the requests act on ---------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, object]
    kwargs: dict[str, dict]  # URL name -> its kwargs


def build_world(settings, tmp_path) -> World:
    settings.MEDIA_ROOT = tmp_path / "files"
    FacilityFactory(npi="1234567893", tax_id="123456789", street="1 Way", city="A", state="IL", postal_code="62701")
    users = {role.label: UserFactory(role=role) for role in ROLES}
    users[Role.ADMIN.label].is_staff = True
    users[Role.ADMIN.label].save()
    attending = make_radiologist(npi=npi_from(3))
    final = billable_exam(insured_patient(PayerFactory()), attending)
    report = final.report
    addendum = reporting.addendum_save(report=report, user=attending, text="Addendum.")
    critical = reporting.critical_flag(report=report, user=attending, category="RED", description="Bleed")
    [claim] = claims_build(acting_user=attending)
    batch = ExportBatch.objects.create(
        number="B-MATRIX", date_from=date(2026, 1, 1), date_to=date(2026, 12, 31), created_by=attending
    )
    reading = make_completed_exam()
    booked = make_order().exams.get()
    mr_exam = make_order(procedure_types=[mr_procedure()]).exams.get()
    device = implant(mr_exam, MRSafety.CONDITIONAL)
    step = PerformedProcedureStep.objects.create(sop_instance_uid="1.2.3.999", status="COMPLETED")
    pacs = DicomDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=1, enabled=False)
    forward = MppsForward.objects.create(
        destination=pacs, operation="N-CREATE", sop_instance_uid="1.2.3.999", dataset={}, status="FAILED"
    )
    notification = AvailabilityNotification.objects.create(sop_instance_uid="1.2.3.998", study_instance_uid="1.2.3")
    inbound, outbound = InboundMessageFactory(), OutboundMessageFactory()
    catalog_import = CatalogImport.objects.create(file="imports/matrix.csv", file_name="matrix.csv", actor="matrix")
    patient, order = final.order.patient, final.order
    exam_pk = {"exam_pk": final.pk}
    allergy = contrast_allergy(patient)
    alert = clinical_services.alert_add(patient=patient, code="FALL_RISK", acting_user=attending)
    kwargs = {
        "clinical:flag_decide": exam_pk,
        "clinical:exam_documentation": exam_pk,
        "clinical:patient": {"pk": patient.pk},
        "clinical:allergy_edit": {"pk": allergy.pk},
        "clinical:allergy_end": {"pk": allergy.pk},
        "clinical:alert_end": {"pk": alert.pk},
        **{
            f"clinical:{name}": {"patient_pk": patient.pk}
            for name in ("allergy_add", "allergies_answer", "alert_add", "measurement_add", "pregnancy_add")
        },
        "clinical:protocol_exam": {"exam_pk": booked.pk},
        "clinical:mr_screening": {"exam_pk": mr_exam.pk},
        "clinical:implant_add": {"exam_pk": mr_exam.pk},
        "clinical:implant_update": {"exam_pk": mr_exam.pk, "pk": device.pk},
        "clinical:implant_remove": {"exam_pk": mr_exam.pk, "pk": device.pk},
        "scheduling:patient": {"pk": patient.pk},
        "scheduling:patient_edit": {"pk": patient.pk},
        "scheduling:coverage_add": {"patient_pk": patient.pk},
        "scheduling:coverage_edit": {"pk": patient.coverages.get().pk},
        "scheduling:coverage_end": {"pk": patient.coverages.get().pk},
        "api:coverage-detail": {"pk": patient.coverages.get().pk},
        "api:coverage-end": {"pk": patient.coverages.get().pk},
        "scheduling:order_create": {"patient_pk": patient.pk},
        "scheduling:order": {"pk": order.pk},
        "billing:claim_validate": {"pk": claim.pk},
        "billing:claim_outcome": {"pk": claim.pk},
        "billing:batch": {"pk": batch.pk},
        "billing:batch_status": {"pk": batch.pk},
        "billing:batch_download": {"pk": batch.pk, "kind": "csv"},
        "interfaces:inbound_message": {"pk": inbound.pk},
        "interfaces:inbound_message_reprocess": {"pk": inbound.pk},
        "interfaces:outbound_message": {"pk": outbound.pk},
        "reports:pdf": exam_pk,
        "reports:critical_flag": exam_pk,
        "reports:critical_notify": {"pk": critical.pk},
        "reports:critical_close": {"pk": critical.pk},
        "reporting:versions": exam_pk,
        "reporting:restore_version": exam_pk,
        "reporting:addendum_save": exam_pk,
        "reporting:addendum_sign": exam_pk,
        "worklist:reconcile": {"pk": step.pk},
        "worklist:forward_resend": {"pk": forward.pk},
        "worklist:availability_reconcile": {"pk": notification.pk},
        "ris:catalog_import_job": {"pk": catalog_import.pk},
        "ris:catalog_import_status": {"pk": catalog_import.pk},
        "api:patient-detail": {"pk": patient.pk},
        "api:order-detail": {"pk": order.pk},
        "api:report-detail": {"pk": report.pk},
        "api:report-pdf": {"pk": report.pk},
        "api:report-addenda": {"pk": report.pk},
        "api:report-preliminary": {"pk": report.pk},
        "api:report-sign": {"pk": report.pk},
        "api:report-sign-addendum": {"pk": report.pk, "addendum_pk": addendum.pk},
        "api:claim-detail": {"pk": claim.pk},
        "api:claim-validate": {"pk": claim.pk},
        "api:claim-outcome": {"pk": claim.pk},
        "api:charge-detail": {"pk": claim.charges.first().pk},
        "api:physician-detail": {"pk": order.referring_physician_id},
        "api:modality-detail": {"pk": final.procedure_type.modality_id},
        "api:room-detail": {"pk": final.room_id},
        "api:procedure-type-detail": {"pk": final.procedure_type_id},
        "fhir:patient-read": {"resource_id": patient.pk},
        "fhir:servicerequest-read": {"resource_id": final.pk},
        "fhir:appointment-read": {"resource_id": final.pk},
        "fhir:imagingstudy-read": {"resource_id": final.pk},
        "fhir:diagnosticreport-read": {"resource_id": report.pk},
        "fhir:allergyintolerance-read": {"resource_id": contrast_allergy(patient).pk},
        "fhir:observation-read": {"resource_id": observation(patient, Observation.Kind.WEIGHT, "80").pk},
        "fhir:unknown": {"path": "Medication"},
    }
    for name in ("reporting:editor", "reporting:autosave", "reporting:keep_claim", "reporting:preliminary"):
        kwargs[name] = {"exam_pk": reading.pk}
    kwargs["reporting:sign"] = {"exam_pk": reading.pk}
    for name in ("exam", "exam_book", "exam_book_first_free", "exam_cancel", "exam_no_show", "exam_check_in"):
        kwargs[f"scheduling:{name}"] = {"pk": booked.pk}
    for name in ("exam_start", "exam_complete", "exam_letter"):
        kwargs[f"scheduling:{name}"] = {"pk": booked.pk}
    kwargs["clinical:check_in"] = {"exam_pk": booked.pk}
    workitem = {"workitem": workitem_of_exam(booked).sop_instance_uid}
    kwargs["dicomweb:workitem"] = kwargs["dicomweb:workitem-state"] = workitem
    for name in ("api:exam-detail", "api:exam-book", "api:exam-reschedule", "api:exam-cancel", "api:exam-check-in"):
        kwargs[name] = {"pk": booked.pk}
    return World(users, kwargs)


def url_of(name: str, world: World) -> str:
    return reverse(name, kwargs=world.kwargs.get(name))


ADMIN_SAMPLE = ["admin:index", "admin:ris_patient_changelist", "admin:ris_accessrecord_changelist"]


def admin_urls() -> list[str]:
    return [reverse(name) for name in ADMIN_SAMPLE] + ["/admin/scheduling/exam/", "/admin/billing/claim/"]


# --- one request, classified ---------------------------------------------------------------------------------

FORM = re.compile(r"<form\b[^>]*\bmethod=[\"']?post[\"']?[^>]*>(.*?)</form>", re.IGNORECASE | re.DOTALL)


def send(client: Client, method: str, url: str):
    return getattr(client, method.lower())(url, content_type="application/json" if method != "GET" else None)


def outcome(client: Client, method: str, url: str, *, anonymous: bool) -> bool | None:
    """True allowed, False refused, None: the method does not exist here (405)."""
    response = send(client, method, url) if method != "GET" else client.get(url)
    # /healthz/ready answers 503 by design when a service it checks is down (no
    # worklist SCP or HL7 listener runs under the test): still an answer.
    health_verdict = url == reverse("healthz_ready") and response.status_code == 503
    assert response.status_code < 500 or health_verdict, f"{method} {url}: {response.status_code}"
    if response.status_code == 405:
        return None
    if response.status_code in (401, 403):
        if response.status_code == 403 and b"CSRF" in response.content:
            raise AssertionError(f"{method} {url}: CSRF refusal, not a role decision")
        return False
    location = response.headers.get("Location", "")
    if anonymous and response.status_code == 302 and ("/accounts/login/" in location or "/admin/login/" in location):
        return False
    if url.startswith("/admin/") and response.status_code == 302 and "/admin/login/" in location:
        return False
    if method == "GET" and response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
        for form in FORM.findall(response.content.decode()):
            assert "csrfmiddlewaretoken" in form, f"GET {url}: a POST form without the CSRF token"
    return True


def client_for(world: World, column: str) -> Client:
    client = Client()
    if column != "Anonymous":
        client.force_login(world.users[column])
    return client


def observe(name: str, world: World) -> dict[str, dict[str, bool]]:
    """method -> column -> allowed, for every method the URL answers."""
    found: dict[str, dict[str, bool]] = {}
    urls = admin_urls() if name == ADMIN_SITE else [url_of(name, world)]
    methods = ["GET"] if name == ADMIN_SITE else METHODS
    clients: dict[str, Client] = {}  # one signed-in client per role, while it stays signed in
    for method in methods:
        marks: dict[str, bool | None] = {}
        for column in COLUMNS:
            results = set()
            for url in urls:
                client = clients.get(column) or clients.setdefault(column, client_for(world, column))
                results.add(outcome(client, method, url, anonymous=column == "Anonymous"))
                if column != "Anonymous" and "_auth_user_id" not in client.session:
                    del clients[column]  # signed out (the logout URL): the next request signs in again
            assert len(results) == 1, f"{name} {method} {column}: admin pages disagree"
            marks[column] = results.pop()
        if None in marks.values():
            continue  # no such method: those allowed in hear 405 (the others hear their refusal first)
        found[method] = marks
    return found


# --- the tests ------------------------------------------------------------------------------------------------


def test_every_url_of_the_urlconf_is_in_the_table_and_nothing_else():
    in_urlconf = {row_name(name) for name in url_names()}
    unnamed = sorted(name for name in in_urlconf if "<unnamed" in name)
    assert not unnamed, f"give these URL patterns a name: {unnamed}"
    in_table = {row.name for row in table_rows()}
    assert sorted(in_urlconf - in_table) == [], "URLs missing from docs/security.md"
    assert sorted(in_table - in_urlconf) == [], "rows of docs/security.md that are no URL"


def test_the_table_is_well_formed():
    rows = table_rows()
    keys = [(row.name, row.method) for row in rows]
    assert len(keys) == len(set(keys)), "a row appears twice"
    assert all(row.method in METHODS for row in rows)
    every = {row.name for row in rows}
    assert len(every) > 90


def _names() -> list[str]:
    return sorted({row.name for row in table_rows()})


@pytest.mark.django_db
@pytest.mark.parametrize("name", _names())
def test_each_role_gets_what_the_table_says(name, settings, tmp_path):
    world = build_world(settings, tmp_path)
    observed = observe(name, world)
    documented = {row.method: row.allowed for row in table_rows() if row.name == name}
    assert observed == documented


@pytest.mark.django_db
@pytest.mark.regenerate
def test_regenerate(settings, tmp_path):
    names = sorted({row_name(name) for name in url_names()})
    routes = url_names()
    lines = [
        "| URL name | Path | Method | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for name in names:
        with transaction.atomic():  # each URL on a world of its own, as the test above sees it
            observed = observe(name, build_world(settings, tmp_path))
            transaction.set_rollback(True)
        path = "/admin/…" if name == ADMIN_SITE else routes[name]
        path = path.replace("|", "\\|")
        for method, marks in observed.items():
            cells = " | ".join(YES if marks[column] else NO for column in COLUMNS)
            lines.append(f"| `{name}` | `{path}` | {method} | {cells} |")
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n" + "\n".join(lines) + f"\n{END}{tail}")
