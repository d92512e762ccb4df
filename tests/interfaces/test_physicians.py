"""Ordering providers (ORC-12, else OBR-16) with local IDs, NPIs or only a name: kept, matched, never dropped."""

import pytest
from django.urls import reverse

from interfaces.inbound import Provider
from ris.audit import Interface
from ris.models import ReferringPhysician, Role
from ris.services import physician_match_or_create
from scheduling.models import Order
from tests.factories import ReferringPhysicianFactory
from tests.interfaces.conftest import error_of, msh
from tests.interfaces.conftest import receive_fields as receive

pytestmark = pytest.mark.django_db

NPI = "1234567893"  # the CMS example NPI: valid check digit


def orm_v23(control_id: str, *, orc_12: str, obr_16: str | None = None, placer: str = "") -> str:
    """An ORM^O01 (v2.3) as a hospital CIS's interface specification shows it: the ordering provider in ORC-12 and
    again in OBR-16 (XCN: ID ^ family ^ given ^ middle ^ suffix ^ prefix ^ degree ^ source table ^ authority ...)."""
    placer = placer or f"ORD{control_id}"
    obr_16 = orc_12 if obr_16 is None else obr_16
    return "\r".join(
        [
            msh(control_id, "ORM^O01", version="2.3"),
            "PID|1||800123^^^MEMHOSP^MR||SMITH^JOHN^A||19600515|M|||1200 MAIN ST^^SPRINGFIELD^IL^62701^USA",
            "PV1|1|O|RAD||||||||||||||||V12345",
            f"ORC|NW|{placer}^CIS|||||^^^^^R||20261128101000|||{orc_12}",
            f"OBR|1|{placer}^CIS||CTHEAD^CT head^99RIS|||20261128100000|||||||||{obr_16}||||||||CT",
        ]
    )


def ordered_by(control_id: str, orc_12: str, **kwargs) -> ReferringPhysician | None:
    ack = receive(orm_v23(control_id, orc_12=orc_12, **kwargs))
    assert ack["MSA"][1] == "AA", ack
    return Order.objects.get(placer_order_number=kwargs.get("placer") or f"ORD{control_id}").referring_physician


def test_a_local_id_without_npi_keeps_the_physician_and_the_id(catalog):
    physician = ordered_by("C1", "7101^ESTRADA^JAIME")
    assert physician is not None
    assert (physician.identifier, physician.identifier_authority, physician.npi) == ("7101", "", None)
    assert (physician.family_name, physician.given_name) == ("ESTRADA", "JAIME")


def test_the_next_order_with_the_same_id_and_authority_finds_the_same_physician(catalog):
    first = ordered_by("C1", "7101^ESTRADA^JAIME^^^^^^STJOHN")
    again = ordered_by("C2", "7101^ESTRADA^JAIME^^^^^^STJOHN")
    elsewhere = ordered_by("C3", "7101^NGUYEN^LINH^^^^^^MERCY")
    assert again.pk == first.pk
    assert elsewhere.pk != first.pk  # the same number from another authority is another person
    assert ReferringPhysician.objects.count() == 2


def test_authority_and_identifier_type_are_read_from_xcn_9_and_xcn_13(catalog):
    physician = ordered_by("C1", "7101^ESTRADA^JAIME^R^JR^DR^MD^^STJOHN&2.16.840.1.113883.19.5&ISO^L^^^DN")
    assert (physician.identifier, physician.identifier_authority, physician.identifier_type) == (
        "7101",
        "STJOHN",
        "DN",
    )
    assert (physician.middle_name, physician.name_suffix, physician.name_prefix) == ("R", "JR", "DR")


@pytest.mark.parametrize(
    "orc_12",
    [
        f"{NPI}^WELBY^MARCUS^^^^^^^^^^NPI",  # XCN-13 identifier type NPI
        f"{NPI}^WELBY^MARCUS^^^^^^NPI",  # XCN-9 namespace NPI
        f"{NPI}^WELBY^MARCUS^^^^^^&2.16.840.1.113883.4.6&ISO",  # XCN-9 the NPI OID
        f"{NPI}^WELBY^MARCUS",  # nothing said, but 10 digits with a valid check digit
    ],
)
def test_an_npi_finds_the_physician_by_npi_and_leaves_the_known_name(catalog, orc_12):
    known = ReferringPhysicianFactory(npi=NPI, family_name="Welby", given_name="Marcus")
    physician = ordered_by("C1", orc_12)
    assert physician.pk == known.pk
    assert physician.family_name == "Welby"  # a message does not rename a physician the department knows


def test_an_unknown_npi_creates_the_physician_with_its_npi(catalog):
    physician = ordered_by("C1", f"{NPI}^WELBY^MARCUS^^^^^^^^^^NPI")
    assert (physician.npi, physician.identifier, physician.family_name) == (NPI, "", "WELBY")


@pytest.mark.parametrize(
    ("orc_12", "identifier_type"),
    [("1234567890^ROE^RICHARD", ""), ("1234567890^ROE^RICHARD^^^^^^^^^^NPI", "NPI")],
)
def test_an_id_that_fails_the_npi_check_is_kept_as_a_local_id(catalog, orc_12, identifier_type):
    physician = ordered_by("C1", orc_12)
    assert (physician.npi, physician.identifier, physician.identifier_type) == (None, "1234567890", identifier_type)


def test_a_name_sent_later_fills_in_a_physician_first_known_by_id_only(catalog):
    first = ordered_by("C1", "7101^^^^^^^^STJOHN")
    assert first.family_name == ""
    named = ordered_by("C2", "7101^ESTRADA^JAIME^^^^^^STJOHN")
    assert named.pk == first.pk
    assert (named.family_name, named.given_name) == ("ESTRADA", "JAIME")
    renamed = ordered_by("C3", "7101^ESTRADO^JAIMY^^^^^^STJOHN")
    assert (renamed.pk, renamed.family_name) == (first.pk, "ESTRADA")


def test_a_name_without_any_id_matches_the_physician_of_that_name_without_identifiers(catalog):
    with_npi = ReferringPhysicianFactory(family_name="House", given_name="Gregory")
    first = ordered_by("C1", "^HOUSE^GREGORY")
    again = ordered_by("C2", "^House^Gregory")
    assert first.pk != with_npi.pk
    assert again.pk == first.pk
    assert (first.npi, first.identifier) == (None, "")


def test_obr_16_is_read_when_orc_12_is_empty(catalog):
    physician = ordered_by("C1", "", obr_16="7101^ESTRADA^JAIME^^^^^^STJOHN")
    assert (physician.identifier, physician.family_name) == ("7101", "ESTRADA")


def test_an_order_that_names_nobody_has_no_referring_physician(catalog):
    assert ordered_by("C1", "") is None
    assert not ReferringPhysician.objects.exists()


def test_an_xcn_component_too_long_for_its_column_is_ae_102_naming_orc_12(catalog):
    ack = receive(orm_v23("C1", orc_12="7101^ESTRADA^JAIME^^^^^^" + "A" * 65))
    location, code, reason = error_of(ack)
    assert (ack["MSA"][1], location, code) == ("AE", "ORC^1^12", "102")
    assert reason.startswith("ORC-12.9 (assigning authority)")
    assert not Order.objects.exists()
    assert not ReferringPhysician.objects.exists()


def test_the_order_and_exam_pages_show_the_name_and_the_local_id(catalog, client_for):
    ordered_by("C1", "7101^ESTRADA^JAIME^^^^^^STJOHN")
    order = Order.objects.get()
    desk = client_for(Role.FRONT_DESK)
    for url in (reverse("scheduling:order", args=[order.pk]), reverse("scheduling:exam", args=[order.exams.get().pk])):
        html = desk.get(url).content.decode()
        assert "ESTRADA, JAIME · ID 7101 (STJOHN)" in html, url


def test_physician_creation_records_the_actor_and_none_for_nobody():
    actor = Interface("HL7", "CIS")
    assert physician_match_or_create(acting_user=actor) is None
    physician = physician_match_or_create(acting_user=actor, identifier="7101", authority="STJOHN", family_name="X")
    assert physician_match_or_create(acting_user=actor, identifier="7101", authority="STJOHN").pk == physician.pk


@pytest.mark.parametrize(
    ("provider", "npi"),
    [
        (Provider(id=NPI), NPI),
        (Provider(id=NPI, identifier_type="npi"), NPI),
        (Provider(id=NPI, authority="NPI"), NPI),
        (Provider(id=NPI, authority="CMS", authority_universal_id="2.16.840.1.113883.4.6"), NPI),
        (Provider(id=NPI, authority="STJOHN"), ""),  # a local number that happens to pass the check
        (Provider(id=NPI, identifier_type="DN"), ""),
        (Provider(id="1234567890", identifier_type="NPI"), ""),  # wrong check digit
        (Provider(id="7101"), ""),
        (Provider(id="1²²²²²²²²²"), ""),  # digits to str.isdigit(), not to int()
        (Provider(id=""), ""),
    ],
)
def test_which_ids_are_npis(provider, npi):
    assert provider.npi == npi
