"""Names and accession numbers with DICOM or HL7 delimiters or control characters are refused, with a clear error,
at every way in: the pages, the API, HL7 and the services; and a value stored before that prints without a 500."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from interfaces.models import Sender
from interfaces.services import message_receive
from reporting.pdf import one_line, report_filename, report_pdf
from ris.exceptions import ApplicationError
from ris.models import Patient, Role
from ris.services import patient_register
from scheduling.models import Exam, Order
from tests.factories import (
    TEST_ACTOR,
    PatientFactory,
    ProcedureTypeFactory,
    UserFactory,
    make_completed_exam,
    make_order,
)
from tests.interfaces.conftest import adt, msh, pid
from tests.reporting.test_pdf import final_report, pdf_text

pytestmark = pytest.mark.django_db

PATIENT = {"family_name": "Müller", "given_name": "Jürgen", "birth_date": "1961-04-02", "sex": "M"}
BAD_NAMES = ["Smith^John", "Smith\\Jones", "Yamada=山田", "Smith\nJones", "Smith\rJones", "Smith\x07"]


@pytest.fixture
def catalog(db):
    return ProcedureTypeFactory(code="CTHEAD", name="CT head")


@pytest.fixture
def desk(client):
    client.force_login(UserFactory(role=Role.FRONT_DESK), backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("family_name", BAD_NAMES)
def test_the_registration_page_refuses_a_name_with_a_delimiter_next_to_its_field(desk, family_name):
    response = desk.post(reverse("scheduling:patient_register"), {**PATIENT, "family_name": family_name})
    assert response.status_code == 200
    assert response.context["form"].errors["family_name"][0].startswith("Names cannot contain")
    assert not Patient.objects.exists()


def test_the_edit_page_refuses_a_given_name_with_a_caret(desk):
    patient = PatientFactory()
    response = desk.post(reverse("scheduling:patient_edit", args=[patient.pk]), {**PATIENT, "given_name": "A^B"})
    assert response.context["form"].errors["given_name"] == [
        "Names cannot contain ^ (these separate the parts of a name in DICOM)."
    ]


@pytest.mark.parametrize("given_name", BAD_NAMES)
def test_the_api_answers_400_naming_the_field(given_name):
    client = APIClient()
    client.force_authenticate(UserFactory(role=Role.FRONT_DESK))
    response = client.post("/api/patients/", {**PATIENT, "given_name": given_name}, format="json")
    assert response.status_code == 400
    assert response.json()["given_name"][0].startswith("Names cannot contain")
    assert not Patient.objects.exists()


def test_the_service_refuses_a_name_with_a_component_group_separator():
    with pytest.raises(ApplicationError, match="Names cannot contain ="):
        patient_register(family_name="Yamada=山田", acting_user=TEST_ACTOR)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("O\\S\\Brien^John", "PID^1^5"),  # an escaped caret (\S\) decodes into the family name
        ("Smith^J\\E\\n", "PID^1^5"),  # an escaped backslash into the given name
        ("Smith\\X0A\\Jones^John", "PID^1^5"),  # a hex-escaped line break
    ],
)
def test_hl7_refuses_a_decoded_delimiter_in_a_name_with_ae_102_at_pid_5(catalog, name, field):
    ack = message_receive(adt("C1", name=name).encode())
    segments = {line.split("|")[0]: line.split("|") for line in ack.split("\r") if line}
    assert segments["MSA"][1] == "AE"
    assert segments["ERR"][2] == field
    assert segments["ERR"][3].startswith("102^")
    assert not Patient.objects.exists()


@pytest.mark.parametrize("mrn", ["P1\\S\\2", "P1\\X0A\\2", "P1\\E\\2"])
def test_hl7_refuses_an_mrn_with_a_decoded_delimiter_or_line_break_with_ae_102_at_pid_3(catalog, mrn):
    ack = message_receive(adt("C1", mrn=mrn).encode())
    segments = {line.split("|")[0]: line.split("|") for line in ack.split("\r") if line}
    assert (segments["MSA"][1], segments["ERR"][2]) == ("AE", "PID^1^3")
    assert segments["ERR"][3].startswith("102^")
    assert not Patient.objects.exists()


def test_hl7_refuses_a_sender_accession_number_with_a_line_break(catalog):
    Sender.objects.create(name="CIS", assigns_accession_numbers=True)
    text = "\r".join(
        [
            msh("O1", "OMI^O23^OMI_O23"),
            pid(),
            "ORC|NW|PL7^CIS",
            "OBR|1|PL7^CIS||CTHEAD^CT head^99RIS",
            "IPC|ACC\\X0A\\777|RP777|1.2.3.777|SPS777",
        ]
    )
    ack = message_receive(text.encode())
    segments = {line.split("|")[0]: line.split("|") for line in ack.split("\r") if line}
    assert segments["MSA"][1] == "AE"
    assert "control characters" in segments["ERR"][8]
    assert not Order.objects.exists()


@pytest.mark.parametrize("accession", ["ACC^1", "ACC\\1", "ACC|1", "ACC~1", "ACC&1", "ACC\n1", "A" * 17])
def test_a_sender_accession_number_is_checked_by_the_shared_validator(accession):
    with pytest.raises(ApplicationError, match="Accession number") as refused:
        make_order(procedure_types=[ProcedureTypeFactory()], accession_numbers=[accession], accession_issuer="CIS")
    assert refused.value.field == "accession_number"
    assert not Order.objects.exists()


def test_an_accession_issuer_with_a_delimiter_is_refused():
    with pytest.raises(ApplicationError, match="Identifiers cannot contain &"):
        make_order(accession_numbers=["ACC1"], accession_issuer="CIS&HOSP")


def test_the_order_model_refuses_a_delimiter_in_its_accession_number():
    order = make_order()
    order.accession_number = "A^1"
    with pytest.raises(Exception, match="Identifiers cannot contain"):
        order.full_clean()


def test_a_stored_accession_with_a_line_break_gives_a_safe_file_name_and_one_line():
    assert report_filename('AC\r\n1"; x=/y') == "report-AC_1___x__y.pdf"
    assert report_filename("\n") == "report-unnumbered.pdf"
    assert one_line("AC\nC1\x00") == "AC C1"


def test_a_report_whose_stored_accession_has_a_line_break_prints_it_on_one_line():
    exam = make_completed_exam()
    Exam.objects.filter(pk=exam.pk).update(accession_number="AC\nC1")  # stored before the validators
    text = pdf_text(report_pdf(final_report(Exam.objects.get(pk=exam.pk))))
    assert "Accession AC C1" in text
