"""PID-11 addresses as US and European feeds send them: alpha-3 countries stored as alpha-2, and a value too long
for its column answered AE 102 at its field (never AE 207 with a database message)."""

import pytest

from interfaces.models import InboundMessage
from ris.models import Patient
from scheduling.models import Order
from tests.interfaces.conftest import error_of, msh, orm
from tests.interfaces.conftest import receive_fields as receive

pytestmark = pytest.mark.django_db


def adt_a04(control_id: str, *, address: str, name: str = "DURAND^CLAIRE^MARIE", phone: str = "+33 1 42 60 12 34"):
    """An ADT^A04 (v2.5.1) as a French hospital's ADT feed sends it: XAD with an alpha-3 country, XTN-1 phone."""
    return "\r".join(
        [
            msh(control_id, "ADT^A04^ADT_A01"),
            "EVN|A04|20261128101010",
            f"PID|1||4455667^^^STJOHN^MR||{name}||19750314|F|||{address}||{phone}",
            "PV1|1|O|RAD^^^STJOHN||||||||||||||||V778899",
        ]
    )


def orm_v23(control_id: str, *, address: str) -> str:
    """An ORM^O01 (v2.3) from a US CIS: PID-11 with `USA` (HL7 table 0399), ordering provider in ORC-12 / OBR-16."""
    return "\r".join(
        [
            msh(control_id, "ORM^O01", version="2.3"),
            f"PID|1||800123^^^MEMHOSP^MR||SMITH^JOHN^A||19600515|M|||{address}||(217)555-0100",
            "PV1|1|O|RAD||||||||||||||||V12345",
            "ORC|NW|ORD448811^CIS|||||^^^^^R||20261128101000|||1234567893^WELBY^MARCUS",
            "OBR|1|ORD448811^CIS||CTHEAD^CT head^99RIS|||20261128100000|||||||||1234567893^WELBY^MARCUS||||||||CT",
        ]
    )


def test_an_adt_with_an_alpha_3_country_registers_the_patient_with_alpha_2():
    ack = receive(adt_a04("A1", address="12 RUE DE RIVOLI^APT 4^PARIS^^75001^FRA^H"))
    assert ack["MSA"][1] == "AA"
    assert "ERR" not in ack
    patient = Patient.objects.get(mrn="4455667")
    assert (patient.street, patient.city, patient.postal_code, patient.country) == (
        "12 RUE DE RIVOLI APT 4",
        "PARIS",
        "75001",
        "FR",
    )


def test_an_order_with_usa_in_pid_11_is_applied_and_the_country_stored_as_us(catalog):
    ack = receive(orm_v23("O1", address="1200 MAIN ST^^SPRINGFIELD^IL^62701^USA^H"))
    assert ack["MSA"][1] == "AA"
    order = Order.objects.get()
    assert (order.patient.state, order.patient.postal_code, order.patient.country) == ("IL", "62701", "US")


def test_a_country_name_and_an_alpha_3_code_with_no_alpha_2_are_stored():
    assert receive(adt_a04("A1", address="1 Main Rd^^Dublin^^D02^Ireland"))["MSA"][1] == "AA"
    assert Patient.objects.get().country == "IE"
    assert receive(adt_a04("A2", address="Knez Mihailova 1^^Beograd^^11000^YUG"))["MSA"][1] == "AA"
    assert Patient.objects.get().country == "YUG"


@pytest.mark.parametrize(
    ("address", "name", "phone", "location", "named"),
    [
        ("R" * 129 + "^^PARIS^^75001^FRA", "DURAND^CLAIRE", "", "PID^1^11", "PID-11.1 and .2"),
        ("12 RUE DE RIVOLI^^" + "P" * 65 + "^^75001^FRA", "DURAND^CLAIRE", "", "PID^1^11", "PID-11.3"),
        ("1 MAIN ST^^SPRINGFIELD^" + "I" * 33 + "^62701^USA", "SMITH^JOHN", "", "PID^1^11", "PID-11.4"),
        ("1 MAIN ST^^SPRINGFIELD^IL^" + "6" * 17 + "^USA", "SMITH^JOHN", "", "PID^1^11", "PID-11.5"),
        ("12 RUE DE RIVOLI^^PARIS^^75001^Freedonia", "DURAND^CLAIRE", "", "PID^1^11", "PID-11.6"),
        ("12 RUE DE RIVOLI^^PARIS^^75001^FRA", "D" * 65 + "^CLAIRE", "", "PID^1^5", "PID-5.1"),
        ("12 RUE DE RIVOLI^^PARIS^^75001^FRA", "DURAND^CLAIRE^^^" + "X" * 33, "", "PID^1^5", "PID-5.5"),
        ("12 RUE DE RIVOLI^^PARIS^^75001^FRA", "DURAND^CLAIRE", "0" * 33, "PID^1^13", "PID-13"),
        ("12 RUE DE RIVOLI^^PARIS^^75001^FRA", "DURAND^CLAIRE", "call the daughter", "PID^1^13", "PID-13"),
    ],
)
def test_a_value_that_does_not_fit_its_column_is_ae_102_naming_its_field(address, name, phone, location, named):
    ack = receive(adt_a04("A1", address=address, name=name, phone=phone))
    assert ack["MSA"][1] == "AE"
    assert error_of(ack)[:2] == (location, "102")
    assert error_of(ack)[2].startswith(named)
    assert not Patient.objects.exists()
    assert InboundMessage.objects.get().status == "ERROR"


def test_an_order_whose_patient_address_does_not_fit_is_ae_102_and_creates_nothing(catalog):
    ack = receive(orm_v23("O1", address="1200 MAIN ST^^" + "S" * 65 + "^IL^62701^USA"))
    location, code, reason = error_of(ack)
    assert (ack["MSA"][1], location, code) == ("AE", "PID^1^11", "102")
    assert reason.startswith("PID-11.3 (city)")
    assert (Patient.objects.count(), Order.objects.count()) == (0, 0)


def test_an_update_in_alpha_3_of_a_country_stored_in_alpha_2_changes_nothing():
    receive(adt_a04("A1", address="12 RUE DE RIVOLI^^PARIS^^75001^FR"))
    patient = Patient.objects.get()
    receive(adt_a04("A2", address="12 RUE DE RIVOLI^^PARIS^^75001^FRA").replace("ADT^A04", "ADT^A08"))
    assert patient.history.count() == 1


@pytest.mark.parametrize(
    ("message", "location", "named"),
    [
        (orm("O1", placer="P" * 65), "ORC^1^2", "ORC-2.1 (placer order number)"),
        (orm("O1").replace("|V123", "|" + "V" * 65), "PV1^1^19", "PV1-19 (visit number)"),
    ],
)
def test_an_order_number_or_visit_number_longer_than_dicom_lo_is_ae_102_and_creates_nothing(
    catalog, message, location, named
):
    """Both go to the worklist as LO (64 characters): refused at their field, never cut or sent over-long."""
    ack = receive(message)
    assert (ack["MSA"][1], *error_of(ack)[:2]) == ("AE", location, "102")
    assert error_of(ack)[2].startswith(named)
    assert not Order.objects.exists()
