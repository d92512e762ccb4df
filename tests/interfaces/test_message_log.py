"""The administrators' HL7 message log: who may open it, what its search narrows, and each message field by field."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from interfaces.models import InboundMessage
from interfaces.selectors import message_view
from ris.models import Role
from tests.factories import InboundMessageFactory, OutboundMessageFactory

LOG = reverse("interfaces:message_log")
NOT_ADMIN = [role for role in Role if role != Role.ADMIN]


@pytest.fixture
def admin(client_for):
    return client_for(Role.ADMIN)


def shown(response) -> set[str]:
    """The control IDs of the rows on the page."""
    assert response.status_code == 200
    return {row["control_id"] for row in response.context["page"].rows}


def detail_urls() -> list[str]:
    inbound, outbound = InboundMessageFactory(), OutboundMessageFactory()
    return [
        reverse("interfaces:inbound_message", args=[inbound.pk]),
        reverse("interfaces:outbound_message", args=[outbound.pk]),
    ]


# --- who may open it ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_login_page(client):
    for url in [LOG, *detail_urls()]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


@pytest.mark.django_db
@pytest.mark.parametrize("role", NOT_ADMIN, ids=str)
def test_other_roles_get_403(client_for, role):
    client = client_for(role)
    assert [client.get(url).status_code for url in [LOG, *detail_urls()]] == [403, 403, 403]


@pytest.mark.django_db
def test_navigation_offers_the_log_to_administrators_only(client_for):
    link = f'href="{LOG}"'
    assert link in client_for(Role.ADMIN).get(reverse("ris:admin_home")).content.decode()
    assert link not in client_for(Role.FRONT_DESK).get(reverse("scheduling:home")).content.decode()


# --- the list and its search -------------------------------------------------------------------------------------


@pytest.fixture
def traffic(db):
    """Two messages received (an ORM applied, an ADT in error, ten days old) and one sent (an ORM that failed)."""
    orm = InboundMessageFactory(control_id="IN-ORM", mrn="P1", accession_number="A1")
    adt = InboundMessageFactory(
        control_id="IN-ADT", message_type="ADT", trigger_event="A08", mrn="P2", accession_number="", status="ERROR"
    )
    ten_days_ago = datetime.combine(
        timezone.localdate() - timedelta(days=10), time(12), timezone.get_current_timezone()
    )
    InboundMessage.objects.filter(pk=adt.pk).update(created_at=ten_days_ago)
    OutboundMessageFactory(control_id="OUT-ORM", mrn="P1", accession_number="A2", status="FAILED", attempts=5)
    return {"orm": orm, "ten_days_ago": ten_days_ago.date()}


@pytest.mark.django_db
def test_admin_sees_received_and_sent_messages_newest_first(admin, traffic):
    response = admin.get(LOG)
    assert [row["control_id"] for row in response.context["page"].rows] == ["OUT-ORM", "IN-ORM", "IN-ADT"]
    html = response.content.decode()
    assert reverse("interfaces:inbound_message", args=[traffic["orm"].pk]) in html
    assert "OUT-ORM" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"mrn": "P1"}, {"IN-ORM", "OUT-ORM"}),
        ({"mrn": "P2"}, {"IN-ADT"}),
        ({"accession_number": "A2"}, {"OUT-ORM"}),
        ({"control_id": "IN-ORM"}, {"IN-ORM"}),
        ({"message_type": "adt"}, {"IN-ADT"}),
        ({"message_type": "ADT^A01"}, set()),
        ({"message_type": "ORM^O01"}, {"IN-ORM", "OUT-ORM"}),
        ({"status": "ERROR"}, {"IN-ADT"}),
        ({"status": "FAILED"}, {"OUT-ORM"}),
        ({"direction": "out"}, {"OUT-ORM"}),
        ({"direction": "in", "mrn": "P1"}, {"IN-ORM"}),
    ],
    ids=lambda value: repr(sorted(value) if isinstance(value, set) else value),  # one order on every xdist worker
)
def test_each_search_field_narrows_the_list(admin, traffic, criteria, expected):
    assert shown(admin.get(LOG, criteria)) == expected


@pytest.mark.django_db
def test_a_date_range_narrows_the_list_to_those_days(admin, traffic):
    day = traffic["ten_days_ago"].isoformat()
    assert shown(admin.get(LOG, {"date_from": day, "date_to": day})) == {"IN-ADT"}
    since_yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert shown(admin.get(LOG, {"date_from": since_yesterday})) == {"IN-ORM", "OUT-ORM"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("criteria", "field", "error"),
    [
        ({"date_from": "2026-02-31"}, "date_from", "Enter a valid date."),
        ({"date_to": "yesterday"}, "date_to", "Enter a valid date."),
        ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "date_to", "The end date is before the start date."),
        ({"date_to": "9999-12-31"}, "date_to", "Give a date between 2000 and 2999."),
        ({"message_type": "ORM^O01^ORM_O01"}, "message_type", None),
    ],
    ids=repr,
)
def test_an_invalid_search_shows_a_form_error_instead_of_rows(admin, traffic, criteria, field, error):
    response = admin.get(LOG, criteria)
    assert response.status_code == 200
    assert response.context["page"] is None
    assert field in response.context["form"].errors
    if error:
        assert error in response.content.decode()


@pytest.mark.django_db
def test_an_application_ack_that_reached_no_one_shows_as_unanswered_and_has_a_filter(admin, traffic):
    lost = InboundMessageFactory(
        control_id="IN-LOST", status="ERROR", ack_code="AE", accept_ack_type="AL", application_ack_state="UNROUTED"
    )
    InboundMessageFactory(control_id="IN-SENT", accept_ack_type="AL", application_ack_state="QUEUED")
    response = admin.get(LOG)
    row = next(row for row in response.context["page"].rows if row["control_id"] == "IN-LOST")
    assert row["unanswered"]
    assert ">unanswered error</span>" in response.content.decode()
    assert shown(admin.get(LOG, {"status": "UNANSWERED"})) == {"IN-LOST"}
    detail = admin.get(reverse("interfaces:inbound_message", args=[lost.pk])).content.decode()
    assert "Unanswered: no destination for the sender" in detail
    assert "MSH-16 (empty: read as AL)" in detail


@pytest.mark.django_db
def test_pages_keep_the_search(admin, settings):
    settings.RIS_PAGE_SIZE = 2
    for n in range(3):
        InboundMessageFactory(control_id=f"M{n}", mrn="P9")
    InboundMessageFactory(control_id="OTHER", mrn="P8")
    first = admin.get(LOG, {"mrn": "P9"})
    assert shown(first) == {"M2", "M1"}
    assert "?mrn=P9&amp;page=2" in first.content.decode()
    assert shown(admin.get(LOG, {"mrn": "P9", "page": "2"})) == {"M0"}


# --- one message ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_received_message_is_shown_field_by_field_beside_its_ack(admin):
    message = InboundMessageFactory(mrn="P777", outcome="Applied: order A1 created")
    html = admin.get(reverse("interfaces:inbound_message", args=[message.pk])).content.decode()
    assert "PID-5</code></td><td>Patient Name</td><td><code>Doe^Jane</code>" in html
    assert "MSH-9</code></td><td>Message Type</td><td><code>ORM^O01</code>" in html
    assert "MSA-1</code></td><td>Acknowledgment Code</td><td><code>AA</code>" in html
    assert "Applied: order A1 created" in html


@pytest.mark.django_db
def test_a_sent_message_shows_attempts_last_error_and_the_peers_ack(admin):
    message = OutboundMessageFactory(status="PENDING", attempts=3, last_error="Connection refused by 127.0.0.1:2575")
    html = admin.get(reverse("interfaces:outbound_message", args=[message.pk])).content.decode()
    assert "<dt>Attempts</dt><dd>3" in html
    assert "Connection refused by 127.0.0.1:2575" in html
    assert "PID-5</code></td><td>Patient Name" in html
    assert "MSA-2</code></td><td>Message Control ID</td><td><code>" + message.control_id in html


@pytest.mark.django_db
def test_a_message_that_cannot_be_parsed_is_shown_as_received(admin):
    message = InboundMessageFactory(raw="\x0bthis is not <HL7>\x1c", ack="", status="REJECTED", message_type="")
    response = admin.get(reverse("interfaces:inbound_message", args=[message.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "does not start with an MSH segment" in html
    assert "this is not &lt;HL7&gt;" in html


def test_fields_are_numbered_from_msh_1_the_separator_and_z_segments_have_numbers_only():
    view = message_view("MSH|^~\\&|CIS||||||ADT^A08|C1|P|2.5.1\nZPI|1||custom\r\rNOT A SEGMENT")
    msh, zpi, odd = view.segments
    assert [(f.label, f.name, f.value) for f in msh.fields[:3]] == [
        ("MSH-1", "Field Separator", "|"),
        ("MSH-2", "Encoding Characters", "^~\\&"),
        ("MSH-3", "Sending Application", "CIS"),
    ]
    assert [(f.label, f.name) for f in zpi.fields] == [("ZPI-1", ""), ("ZPI-3", "")]
    assert (odd.segment_id, odd.fields, view.problem) == ("NOT A SEGMENT", (), "")


def test_a_letter_as_field_separator_is_refused_and_the_text_kept():
    view = message_view("MSHA^~\\&AB")
    assert (view.segments, view.raw) == ((), "MSHA^~\\&AB")
    assert "not a usable field separator" in view.problem
