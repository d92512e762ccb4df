"""The technologist list: a day's exams, narrowed to one room or modality, and set up to refresh itself."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ris.models import Role
from scheduling.selectors import exams_scheduled_on
from tests.factories import ModalityFactory, ProcedureTypeFactory, RoomFactory, make_booked_exam

pytestmark = pytest.mark.django_db


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def tomorrow():
    return timezone.localdate() + timedelta(days=1)


@pytest.fixture
def exams(tomorrow):
    """A CT exam in CT 1, another in CT 2 and an MR exam in MR 1, all tomorrow."""
    ct, mr = ModalityFactory(code="CT"), ModalityFactory(code="MR", name="Magnetic Resonance")
    rooms = {name: RoomFactory(name=name, modality=modality) for name, modality in [("CT 1", ct), ("CT 2", ct)]}
    rooms["MR 1"] = RoomFactory(name="MR 1", modality=mr)
    made = {}
    for name, room in rooms.items():
        procedure = ProcedureTypeFactory(modality=room.modality, name=f"Exam in {name}")
        made[name] = make_booked_exam(room=room, start=at(tomorrow, 9), procedure_types=[procedure])
    return made


def accessions_on_page(client, exams: dict, **query) -> set[str]:
    """The accession numbers of `exams` the technologist list shows with these filters."""
    html = client.get(reverse("worklist:home"), query).content.decode()
    return {exam.accession_number for exam in exams.values() if exam.accession_number in html}


@pytest.fixture
def tech(client_for):
    return client_for(Role.TECHNOLOGIST)


def test_the_selector_narrows_to_a_room_or_a_modality(exams, tomorrow):
    assert set(exams_scheduled_on(tomorrow, modality_code="MR")) == {exams["MR 1"]}
    assert set(exams_scheduled_on(tomorrow, room_id=exams["CT 2"].room_id)) == {exams["CT 2"]}
    assert set(exams_scheduled_on(tomorrow)) == set(exams.values())


def test_the_list_shows_today_by_default_and_another_day_when_asked(tech, exams, tomorrow):
    assert accessions_on_page(tech, exams) == set()  # all three are tomorrow
    assert accessions_on_page(tech, exams, day=tomorrow.isoformat()) == {e.accession_number for e in exams.values()}


def test_the_list_filters_by_modality(tech, exams, tomorrow):
    assert accessions_on_page(tech, exams, day=tomorrow.isoformat(), modality="CT") == {
        exams["CT 1"].accession_number,
        exams["CT 2"].accession_number,
    }


def test_the_list_filters_by_room(tech, exams, tomorrow):
    room = exams["MR 1"].room_id
    assert accessions_on_page(tech, exams, day=tomorrow.isoformat(), room=room) == {exams["MR 1"].accession_number}


def test_the_filter_form_keeps_the_chosen_values(tech, exams, tomorrow):
    html = tech.get(reverse("worklist:home"), {"day": tomorrow.isoformat(), "modality": "MR"}).content.decode()
    assert f'value="{tomorrow.isoformat()}"' in html
    assert '<option value="MR" selected>MR</option>' in html


def test_an_impossible_day_is_refused_next_to_the_field(tech):
    response = tech.get(reverse("worklist:home"), {"day": "31.02.2026"})
    assert response.status_code == 200
    assert response.context["form"].errors["day"]
    assert "Correct the filters above to see exams." in response.content.decode()


@pytest.mark.parametrize(
    ("name", "role", "container"),
    [
        ("worklist:home", Role.TECHNOLOGIST, "technologist-list"),
        ("scheduling:home", Role.FRONT_DESK, "arrivals"),
        ("reporting:home", Role.RADIOLOGIST, "reading-list"),
    ],
)
def test_the_three_worklists_refresh_themselves_at_the_configured_interval(client_for, settings, name, role, container):
    settings.RIS_WORKLIST_REFRESH_SECONDS = 7
    html = client_for(role).get(reverse(name)).content.decode()
    assert f'id="{container}"' in html
    assert 'data-refresh-seconds="7"' in html
    assert '<script src="/static/js/refresh.js"></script>' in html
