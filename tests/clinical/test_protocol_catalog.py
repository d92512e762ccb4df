"""The catalog side of protocoling: contrast and needs_protocol on procedures (service, CSV import, API, admin),
and the demo catalog of procedures and protocols."""

import random
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from clinical.demo import protocol_catalog
from clinical.models import ExamProtocol, Protocol
from ris import imports
from ris.demo import procedure_catalog
from ris.models import ContrastClass, Modality, ProcedureType, Role
from ris.services import procedure_type_save
from tests.factories import (
    TEST_ACTOR,
    ModalityFactory,
    ProcedureTypeFactory,
    RoomFactory,
    UserFactory,
    local_at,
    make_booked_exam,
)

pytestmark = pytest.mark.django_db


def new_procedure(modality: str, **fields) -> ProcedureType:
    return procedure_type_save(
        acting_user=TEST_ACTOR,
        code=f"NEW{modality}",
        name=f"New {modality} procedure",
        modality=ModalityFactory(code=modality),
        cpt_code="70450",
        **fields,
    )


@pytest.mark.parametrize(("modality", "protocoled"), [("CT", True), ("MR", True), ("DX", False), ("US", False)])
def test_a_new_ct_or_mr_procedure_needs_a_protocol(modality, protocoled):
    assert new_procedure(modality).needs_protocol is protocoled


def test_a_new_ct_procedure_may_be_told_it_needs_none():
    assert new_procedure("CT", needs_protocol=False).needs_protocol is False


def test_changing_a_procedure_leaves_its_protocoling_alone():
    procedure = ProcedureTypeFactory(modality=ModalityFactory(code="CT"), needs_protocol=False)
    procedure_type_save(acting_user=TEST_ACTOR, procedure=procedure, name="CT renamed")
    procedure.refresh_from_db()
    assert procedure.needs_protocol is False


# --- the CSV import ------------------------------------------------------------------------------------------------


def run(text: str):
    job = imports.catalog_import_create(upload=ContentFile(text.encode(), name="c.csv"), acting_user=TEST_ACTOR)
    return imports.catalog_import_run(job.pk)


@pytest.fixture
def _files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "files"


@pytest.mark.usefixtures("_files_in_tmp")
def test_contrast_and_needs_protocol_columns_are_imported():
    for code in ("CT", "MR", "DX"):
        ModalityFactory(code=code)
    job = run(
        "code,name,modality,cpt_code,contrast,needs_protocol\n"
        "CTAPC,CT abdomen and pelvis with contrast,CT,74177,Iodinated,yes\n"
        "MRBRAINWWO,MRI brain without and with contrast,MR,70553,gadolinium,\n"
        "CTSTONE,CT stone protocol,CT,74176,none,no\n"
        "XRCHEST2,X-ray chest 2 views,DX,71046,,\n"
    )
    assert job.errors == []
    found = {p.code: (p.contrast, p.needs_protocol) for p in ProcedureType.objects.all()}
    assert found == {
        "CTAPC": (ContrastClass.IODINATED, True),
        "MRBRAINWWO": (ContrastClass.GADOLINIUM, True),  # blank: a new MR procedure is protocoled
        "CTSTONE": (ContrastClass.NONE, False),
        "XRCHEST2": (ContrastClass.NONE, False),
    }


@pytest.mark.usefixtures("_files_in_tmp")
def test_a_blank_needs_protocol_cell_leaves_a_known_procedure_as_it_is():
    ProcedureTypeFactory(code="CTHEAD", modality=ModalityFactory(code="CT"), needs_protocol=False)
    assert run("code,name,modality,cpt_code,needs_protocol\nCTHEAD,CT head,CT,70450,\n").errors == []
    assert ProcedureType.objects.get(code="CTHEAD").needs_protocol is False


@pytest.mark.usefixtures("_files_in_tmp")
def test_unreadable_contrast_and_needs_protocol_cells_are_refused_with_the_row():
    ModalityFactory(code="CT")
    job = run("code,name,modality,cpt_code,contrast,needs_protocol\nCTX,CT x,CT,74177,barium,perhaps\n")
    [error] = job.errors
    assert "contrast: 'barium' is not none, iodinated, gadolinium or other." in error["message"]
    assert "needs protocol: 'perhaps' is neither yes nor no." in error["message"]
    assert not ProcedureType.objects.filter(code="CTX").exists()


# --- the API and the admin -----------------------------------------------------------------------------------------


def test_the_api_sets_contrast_and_defaults_needs_protocol_by_modality(client):
    ModalityFactory(code="MR")
    client.force_login(UserFactory(role=Role.ADMIN))
    body = {"code": "MRPELV", "name": "MRI pelvis", "modality": "MR", "cpt_code": "72197", "contrast": "GADOLINIUM"}
    response = client.post("/api/procedure-types/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert (response.json()["contrast"], response.json()["needs_protocol"]) == ("GADOLINIUM", True)


def test_the_admin_lists_and_edits_contrast_protocoling_and_protocols(client):
    procedure = ProcedureTypeFactory(modality=ModalityFactory(code="CT"))
    admin = UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    form = client.get(reverse("admin:ris_proceduretype_change", args=[procedure.pk])).content.decode()
    assert 'name="contrast"' in form
    assert 'name="needs_protocol"' in form
    Protocol.objects.create(code="CTPA", name="CT pulmonary angiogram", modality=procedure.modality)
    assert "CT pulmonary angiogram" in client.get(reverse("admin:clinical_protocol_changelist")).content.decode()
    assert client.get(reverse("admin:clinical_protocol_history", args=[Protocol.objects.get().pk])).status_code == 200


# --- the demo ------------------------------------------------------------------------------------------------------


def test_the_demo_catalog_marks_contrast_and_protocoling():
    procedure_catalog()
    found = {p.code: (p.contrast, p.needs_protocol) for p in ProcedureType.objects.all()}
    assert found["CTAPC"] == (ContrastClass.IODINATED, True)
    assert found["CTAPE"] == (ContrastClass.IODINATED, True)
    assert found["MRBRAINWWO"] == (ContrastClass.GADOLINIUM, True)
    assert found["CTHEAD"] == (ContrastClass.NONE, True)
    assert found["MRKNEE"] == (ContrastClass.NONE, True)
    assert found["USABD"] == (ContrastClass.NONE, False)
    assert found["XRCHEST2"] == (ContrastClass.NONE, False)


def test_the_demo_protocols_are_seeded_once_and_offered_for_their_procedures():
    procedure_catalog()
    assert protocol_catalog(TEST_ACTOR) > 10
    before = (
        list(Protocol.objects.values_list("code", "contrast", "contrast_agent", "updated_at")),
        Protocol.history.count(),
        Protocol.procedure_types.through.objects.count(),
    )
    procedure_catalog()
    assert protocol_catalog(TEST_ACTOR) == 0
    after = (
        list(Protocol.objects.values_list("code", "contrast", "contrast_agent", "updated_at")),
        Protocol.history.count(),
        Protocol.procedure_types.through.objects.count(),
    )
    assert after == before
    ctpa = Protocol.objects.get(code="CTPA")
    assert (ctpa.contrast, ctpa.contrast_agent, ctpa.contrast_route) == (
        ContrastClass.IODINATED,
        "iohexol 350 mgI/mL",
        "IV",
    )
    assert list(ctpa.procedure_types.values_list("code", flat=True)) == ["CTAPE"]
    gadobutrol = Protocol.objects.get(code="MRBRAINGD")
    assert (gadobutrol.contrast, gadobutrol.modality) == (ContrastClass.GADOLINIUM, Modality.objects.get(code="MR"))
    # every with-contrast demo procedure has a protocol with the same class of contrast
    for procedure in ProcedureType.objects.exclude(contrast=ContrastClass.NONE):
        assert procedure.protocols.filter(contrast=procedure.contrast).exists(), procedure.code


def test_the_demo_radiologist_protocols_upcoming_exams_once():
    from reporting.demo import seed  # after the demo schedule: clinical's demo runs before scheduling's

    procedure_catalog()
    protocol_catalog(TEST_ACTOR)
    UserFactory(role=Role.RADIOLOGIST, username="radiologist")
    room = RoomFactory(modality=Modality.objects.get(code="CT"))
    tomorrow = timezone.localdate() + timedelta(days=1)
    exams = [
        make_booked_exam(
            procedure_types=[ProcedureType.objects.get(code="CTAPC")], room=room, start=local_at(tomorrow, hour)
        )
        for hour in (9, 10, 11)
    ]
    seed(rng=random.Random(1), actor=TEST_ACTOR, log=lambda line: None)  # noqa: S311
    protocoled = ExamProtocol.objects.filter(exam__in=exams)
    assert protocoled.count() == len([exam for exam in exams if exam.pk % 3])
    assert {record.protocol.code for record in protocoled} == {"CTAPPV"}
    history = ExamProtocol.history.count()
    seed(rng=random.Random(1), actor=TEST_ACTOR, log=lambda line: None)  # noqa: S311
    assert ExamProtocol.history.count() == history
