"""A room's location code: what the worklist sends as Scheduled Procedure Step Location (0040,0011), SH. The
location in words stays for people."""

from importlib import import_module

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from ris.demo import ROOMS
from ris.models import Role
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db

migration = import_module("ris.migrations.0019_room_location_code")


@pytest.mark.parametrize("code", ["RAD L0 R12 WEST 1", "RAD\\L0", "RAD\tL0"])
def test_a_location_code_longer_than_sh_or_with_a_backslash_or_a_tab_is_refused(code):
    room = RoomFactory.build(location_code=code)
    with pytest.raises(ValidationError) as error:
        room.full_clean(exclude=["facility", "modality"])
    assert "location_code" in error.value.message_dict


def test_a_station_name_with_a_backslash_is_refused():
    with pytest.raises(ValidationError) as error:
        RoomFactory.build(station_name="CT\\1").full_clean(exclude=["facility", "modality"])
    assert "station_name" in error.value.message_dict


def test_every_demo_room_has_a_location_code_that_fits_sh_and_a_location_for_people():
    for _name, _modality, _ae, _station, location, code, _hours in ROOMS:
        assert 0 < len(code) <= 16 < len(location), (location, code)


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("Radiology level 0, room 12", "RAD L0 R12"),
        ("Radiology level -1, room 3", "RAD L-1 R3"),
        ("Level 0", "Level 0"),
        ("Emergency department, resuscitation bay", ""),
    ],
)
def test_the_migration_gives_existing_rooms_a_code_where_it_can(location, code):
    assert migration.code_for(location) == code


def test_the_administrators_room_list_shows_the_location_code(client_for):
    RoomFactory(name="CT 1", location="Radiology level 0, room 12", location_code="RAD L0 R12")
    page = client_for(Role.ADMIN).get(reverse("ris:admin_home")).content.decode()
    assert "Radiology level 0, room 12" in page
    assert "<code>RAD L0 R12</code>" in page
