"""A message answered AE because of the RIS's own state is applied again once the RIS is fixed: when the CIS resends
it under the same MSH-10, or when an administrator presses Reprocess on its page in the message log."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from interfaces.models import ApplicationAck, InboundMessage, OutboundMessage
from interfaces.services import message_receive
from ris.models import Patient, Role
from scheduling.models import Order
from tests.factories import DestinationFactory, InboundMessageFactory, ProcedureTypeFactory, RoomFactory
from tests.interfaces.conftest import assert_valid_ack, err_fields, msh_segment, segment

pytestmark = pytest.mark.django_db

NOT_ADMIN = [role for role in Role if role != Role.ADMIN]


def orm_v23(control_id: str, *, code: str = "MRKNEE", ack: str = "") -> str:
    """An ORM^O01 NW as a v2.3 CIS sends it (no MSH-18, ORC-2 placer number, OBR-4 the department's code)."""
    head = {3: "ERAD", 4: "NORTHCLINIC", 5: "RIS", 6: "RAD", 7: "20261128093000", 9: "ORM^O01", 10: control_id}
    return "\r".join(
        [
            msh_segment(head | {11: "P", 12: "2.3", 15: ack}),
            segment("PID", {1: "1", 3: "NC4711^^^NORTHCLINIC^MR", 5: "PATIENT^TEST^Q", 7: "19750615", 8: "M"}),
            segment("PV1", {1: "1", 2: "O", 19: "V4711"}),
            segment("ORC", {1: "NW", 2: "PO8812^ERAD", 12: "1234567893^WELBY^MARCUS"}),
            segment("OBR", {1: "1", 2: "PO8812^ERAD", 4: f"{code}^MR knee left^99RIS", 24: "MR"}),
        ]
    )


def msa(ack: str) -> list[str]:
    return next(s.split("|") for s in ack.split("\r") if s.startswith("MSA|"))


@pytest.fixture
def mr_room(db):
    """The MR modality with a room: MRKNEE can be added to the catalog once someone notices it is missing."""
    return RoomFactory(name="MR 1", modality__code="MR", modality__name="MR")


def add_mr_knee(room) -> None:
    ProcedureTypeFactory(code="MRKNEE", name="MR knee", modality=room.modality, default_duration_minutes=30)


# --- resent by the CIS -------------------------------------------------------------------------------------------


def test_a_resend_of_an_ae_message_is_applied_once_the_catalog_has_the_procedure(mr_room):
    first = message_receive(orm_v23("ER1001").encode())
    assert msa(first)[1] == "AE"
    assert err_fields(first) == [["ERR", "OBR^1^4^103&Table value not found&HL70357"]]
    add_mr_knee(mr_room)  # the RIS is fixed

    again = message_receive(orm_v23("ER1001").encode())

    assert_valid_ack(again, version="2.3")
    assert msa(again)[1:3] == ["AA", "ER1001"]
    assert err_fields(again) == []
    order = Order.objects.get()
    assert (order.placer_order_number, order.exams.get().procedure_type.code) == ("PO8812", "MRKNEE")
    message = InboundMessage.objects.get()
    assert (message.status, message.ack, message.reprocess_count, message.reprocessed_by) == (
        "APPLIED",
        again,
        1,
        "resend",
    )
    assert message.reprocessed_at is not None
    assert message.outcome.startswith("applied\nBefore reprocessing (resend, ")
    assert "AE Procedure code 'MRKNEE' is not in the catalog. (OBR-4)" in message.outcome
    # ... and from now on the control ID is answered, never applied again
    assert message_receive(orm_v23("ER1001").encode()) == again
    assert Order.objects.count() == 1


def test_a_corrected_resend_replaces_the_stored_text(mr_room):
    add_mr_knee(mr_room)
    assert msa(message_receive(orm_v23("ER1002", code="MRKNE").encode()))[1] == "AE"  # a typo at the CIS
    corrected = orm_v23("ER1002", code="MRKNEE")
    assert msa(message_receive(corrected.encode()))[1] == "AA"
    message = InboundMessage.objects.get()
    assert message.raw == corrected
    assert "'MRKNE' is not in the catalog" in message.outcome
    assert Order.objects.get().exams.get().procedure_type.code == "MRKNEE"


def test_a_resend_while_the_ris_is_still_not_fixed_is_ae_again_and_keeps_both_outcomes(mr_room):
    message_receive(orm_v23("ER1003").encode())
    again = message_receive(orm_v23("ER1003").encode())
    assert_valid_ack(again, version="2.3")
    assert msa(again)[1] == "AE"
    assert err_fields(again) == [["ERR", "OBR^1^4^103&Table value not found&HL70357"]]
    message = InboundMessage.objects.get()
    assert (message.status, message.reprocess_count) == ("ERROR", 1)
    assert message.outcome.count("'MRKNEE' is not in the catalog") == 2
    assert (Patient.objects.count(), Order.objects.count()) == (0, 0)


def test_a_merge_refused_for_an_unknown_mrg_record_is_applied_when_resent_after_the_record_arrived(catalog):
    def adt(control_id: str, trigger: str, mrn: str, tail: str = "") -> str:
        head = {3: "ERAD", 4: "NORTHCLINIC", 5: "RIS", 7: "20261128093000", 9: f"ADT^{trigger}", 10: control_id}
        pid = segment("PID", {1: "1", 3: f"{mrn}^^^NORTHCLINIC^MR", 5: "PATIENT^TEST", 7: "19750615", 8: "M"})
        return "\r".join([msh_segment(head | {11: "P", 12: "2.3"}), segment("EVN", {1: trigger}), pid, tail]).strip()

    merge = adt("ER2001", "A40", "NC1", segment("MRG", {1: "NC0^^^NORTHCLINIC"}))
    refused = message_receive(merge.encode())
    assert err_fields(refused) == [["ERR", "MRG^1^1^204&Unknown key identifier&HL70357"]]
    assert msa(message_receive(adt("ER2002", "A04", "NC0").encode()))[1] == "AA"  # the old record arrives late

    assert msa(message_receive(merge.encode()))[1] == "AA"
    assert Patient.objects.get(mrn="NC0").merged_into == Patient.objects.get(mrn="NC1")


def test_an_enhanced_mode_resend_gets_ca_and_the_new_outcome_as_application_ack(
    mr_room, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("interfaces.tasks.delivery_queue", lambda destination_id: None)
    DestinationFactory(name="ERAD", port=2577, message_types=["ACK"])
    with django_capture_on_commit_callbacks(execute=True):
        message_receive(orm_v23("ER3001", ack="AL").encode())
    assert msa(OutboundMessage.objects.get().raw)[1] == "AE"
    add_mr_knee(mr_room)
    with django_capture_on_commit_callbacks(execute=True):
        accept = message_receive(orm_v23("ER3001", ack="AL").encode())
    assert msa(accept)[1:3] == ["CA", "ER3001"]
    latest = OutboundMessage.objects.order_by("-id").first()
    assert_valid_ack(latest.raw, version="2.3")
    assert msa(latest.raw)[1:3] == ["AA", "ER3001"]
    assert InboundMessage.objects.get().application_ack_state == ApplicationAck.QUEUED
    assert Order.objects.count() == 1


# --- reprocessed from the message log ----------------------------------------------------------------------------


def reprocess_url(message: InboundMessage) -> str:
    return reverse("interfaces:inbound_message_reprocess", args=[message.pk])


@pytest.fixture
def refused(mr_room) -> InboundMessage:
    message_receive(orm_v23("ER4001").encode())
    return InboundMessage.objects.get()


def test_an_administrator_reprocesses_an_ae_message_from_its_page(refused, mr_room, client, user_with_role, caplog):
    admin = user_with_role(Role.ADMIN, username="jdoe_admin")
    client.force_login(admin)
    page = client.get(reverse("interfaces:inbound_message", args=[refused.pk])).content.decode()
    form = page.split(f'action="{reprocess_url(refused)}"', 1)[1].split("</form>", 1)[0]
    assert "csrfmiddlewaretoken" in form
    assert "Reprocess</button>" in form
    add_mr_knee(mr_room)

    with caplog.at_level(logging.INFO, logger="interfaces"):
        response = client.post(reprocess_url(refused), follow=True)

    assert "Message ER4001 applied: AA." in response.content.decode()
    refused.refresh_from_db()
    assert (refused.status, refused.reprocess_count, refused.reprocessed_by) == ("APPLIED", 1, "jdoe_admin")
    assert_valid_ack(refused.ack, version="2.3")
    assert msa(refused.ack)[1] == "AA"
    assert Order.objects.count() == 1
    logged = [r.getMessage() for r in caplog.records if "reprocessed" in r.getMessage()]
    assert any(f"HL7 message {refused.pk}" in line for line in logged)
    assert not any("PATIENT" in line or "19750615" in line for line in caplog.messages)  # no PHI in the log


def test_reprocessing_while_the_ris_is_not_fixed_says_so_and_keeps_the_message_in_error(refused, client_for):
    response = client_for(Role.ADMIN).post(reprocess_url(refused), follow=True)
    assert "Message ER4001 is still not applied (AE)" in response.content.decode()
    refused.refresh_from_db()
    assert (refused.status, refused.reprocess_count) == ("ERROR", 1)


@pytest.mark.parametrize("status", ["APPLIED", "REJECTED", "RECEIVED"])
def test_only_a_message_in_error_can_be_reprocessed(client_for, status):
    message = InboundMessageFactory(status=status)
    response = client_for(Role.ADMIN).post(reprocess_url(message), follow=True)
    assert "Only a message answered AE (not applied) can be reprocessed." in response.content.decode()
    message.refresh_from_db()
    assert (message.status, message.reprocess_count) == (status, 0)
    html = client_for(Role.ADMIN).get(reverse("interfaces:inbound_message", args=[message.pk])).content.decode()
    assert reprocess_url(message) not in html


@pytest.mark.parametrize("role", NOT_ADMIN, ids=str)
def test_other_roles_may_not_reprocess(refused, mr_room, client_for, role):
    add_mr_knee(mr_room)
    assert client_for(role).post(reprocess_url(refused)).status_code == 403
    refused.refresh_from_db()
    assert (refused.status, refused.reprocess_count) == ("ERROR", 0)


def test_reprocess_is_post_only_and_needs_the_csrf_token(refused, mr_room, user_with_role):
    add_mr_knee(mr_room)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with_role(Role.ADMIN))
    assert client.get(reprocess_url(refused)).status_code == 405
    assert client.post(reprocess_url(refused)).status_code == 403  # no CSRF token
    refused.refresh_from_db()
    assert refused.status == "ERROR"


def test_an_enhanced_mode_message_reprocessed_sends_its_new_application_ack(
    mr_room, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    queued: list[int] = []
    monkeypatch.setattr("interfaces.tasks.delivery_queue", queued.append)
    cis = DestinationFactory(name="ERAD", port=2578, message_types=["ACK"])
    with django_capture_on_commit_callbacks(execute=True):
        message_receive(orm_v23("ER5001", ack="AL").encode())
    message = InboundMessage.objects.get()
    add_mr_knee(mr_room)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(Role.ADMIN).post(reprocess_url(message))
    acks = [msa(m.raw)[1] for m in OutboundMessage.objects.order_by("id")]
    assert acks == ["AE", "AA"]
    assert queued == [cis.pk, cis.pk]
