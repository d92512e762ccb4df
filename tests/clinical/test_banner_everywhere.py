"""Every page that shows one patient carries that patient's safety banner: walked, not listed.

The walk takes every named URL of the URLconf (tests/security/test_role_matrix.url_names), reverses it with the
role matrix's world (build_world: a patient with a final report and a claim, an exam being read, an ordered exam,
...) and GETs it as each role; every answer is looked at, whoever may open it.

Which answer is "a page that shows one patient":
- a 200 HTML answer (the API and FHIR answer JSON; redirects and refusals show nothing);
- of a URL that names one record (its route has a parameter: a patient, order, exam, report, coverage, allergy...).
  Pages without one are lists, searches and worklists: each row there names a patient, no row is "the" patient,
  and a banner per row is no banner;
- whose patients, taken from what the page showed (the PHI access log it wrote: `ris.access.shown`) and from the
  MRNs it prints, come to exactly one. A page about a record that names several patients (an export batch) is a
  list again.
Such a page must carry `<section class="patient-banner ..." data-patient="<that patient's pk>">`.

The Django admin (admin:*) is the administrators' data-maintenance tool, outside the clinical pages: not walked.
A new URL needs its kwargs in build_world (the role matrix test asks for them too), and is then walked here.
"""

import copy
import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import NoReverseMatch

from ris.models import AccessRecord, Patient
from tests.factories import make_booked_exam
from tests.security.test_role_matrix import ROLES, World, build_world, url_names, url_of

ROUTE_PARAMETER = re.compile(r"<[^>]+>")


def banner_of(html: str, patient_pk: int) -> bool:
    return bool(re.search(rf'<section class="patient-banner[^"]*"[^>]*\bdata-patient="{patient_pk}"', html))


def walked_names() -> list[str]:
    """URL names of pages about one record: a parameter in the route, outside the Django admin."""
    return sorted(
        name for name, route in url_names().items() if not name.startswith("admin:") and ROUTE_PARAMETER.search(route)
    )


def patients_on(html: str, logged: set[int]) -> set[int]:
    """The patients a page showed: those its access records name, and those whose MRN it prints."""
    mrns = set(re.findall(r"\bMRN\d{6}\b", html))  # tests.factories.PatientFactory's MRNs
    printed = set(Patient.objects.filter(mrn__in=mrns).values_list("pk", flat=True)) if mrns else set()
    return logged | printed


def walk(world: World, names: list[str]) -> tuple[list[str], set[str]]:
    """(problems, names of the pages that showed one patient)."""
    problems: list[str] = []
    one_patient_pages: set[str] = set()
    clients = {}
    for role in ROLES:
        clients[role] = Client()
        clients[role].force_login(world.users[role.label])
    for name in names:
        try:
            url = url_of(name, world)
        except NoReverseMatch:
            problems.append(f"{name}: no kwargs in build_world (tests/security/test_role_matrix.py)")
            continue
        for role, client in clients.items():
            last = AccessRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            response = client.get(url)
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            logged = set(AccessRecord.objects.filter(pk__gt=last).values_list("patient_id", flat=True))
            html = response.content.decode()
            patients = patients_on(html, logged)
            if len(patients) != 1:
                continue
            one_patient_pages.add(name)
            [patient_pk] = patients
            if not banner_of(html, patient_pk):
                problems.append(f"{name} ({url}) as {role.label}: no banner for patient {patient_pk}")
    return problems, one_patient_pages


def the_world(settings, tmp_path) -> World:
    world = build_world(settings, tmp_path)
    # The letter exists once an exam is booked (the matrix's exam is only ordered: its letter redirects).
    world.kwargs["scheduling:exam_letter"] = {"pk": make_booked_exam().pk}
    return world


@pytest.mark.django_db
def test_every_page_that_shows_one_patient_carries_the_banner(settings, tmp_path):
    world = the_world(settings, tmp_path)
    problems, pages = walk(world, walked_names())
    assert problems == []
    # The walk found the pages it is about (it cannot pass by finding none).
    expected = {
        "scheduling:patient",
        "scheduling:patient_edit",
        "scheduling:order",
        "scheduling:order_create",
        "scheduling:exam",
        "scheduling:exam_book",
        "scheduling:exam_cancel",
        "scheduling:exam_no_show",
        "scheduling:exam_letter",
        "scheduling:coverage_add",
        "scheduling:coverage_edit",
        "scheduling:coverage_end",
        "reporting:editor",
        "reporting:versions",
        "clinical:patient",
        "clinical:allergy_edit",
    }
    assert expected - pages == set()


@pytest.mark.django_db
def test_the_walk_finds_a_patient_page_without_the_banner(settings, tmp_path):
    """With the banner's template rendering nothing, the walk names the pages that lost it."""
    world = the_world(settings, tmp_path)
    templates = copy.deepcopy(django_settings.TEMPLATES)
    templates[0]["APP_DIRS"] = False
    templates[0]["OPTIONS"]["loaders"] = [
        ("django.template.loaders.locmem.Loader", {"clinical/_banner.html": ""}),
        "django.template.loaders.filesystem.Loader",
        "django.template.loaders.app_directories.Loader",
    ]
    settings.TEMPLATES = templates
    problems, pages = walk(world, ["scheduling:patient", "scheduling:exam", "ris:admin_home"])
    assert pages == {"scheduling:patient", "scheduling:exam"}
    assert {problem.split(" ")[0] for problem in problems} == {"scheduling:patient", "scheduling:exam"}
