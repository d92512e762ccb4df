"""Every history row names the user or the interface that made the change."""

import pytest
from django.urls import reverse

from ris.audit import Interface
from ris.models import Patient, Role
from ris.services import patient_register, patient_update
from scheduling.services import exam_cancel
from tests.factories import PatientFactory, make_booked_exam


@pytest.mark.django_db
def test_history_names_the_user_who_changed_a_patient(user_with_role):
    clerk = user_with_role(Role.FRONT_DESK)
    patient = patient_register(family_name="Lee", acting_user=clerk)
    patient_update(patient=patient, phone="+1 555 0100", acting_user=clerk, reason="new phone")
    rows = list(patient.history.order_by("history_id"))
    assert [(r.history_type, r.history_actor, r.history_user_id) for r in rows] == [
        ("+", clerk.username, clerk.pk),
        ("~", clerk.username, clerk.pk),
    ]
    assert rows[1].history_change_reason == "new phone"


@pytest.mark.django_db
def test_history_names_the_interface_that_changed_an_order_and_exam():
    cis = Interface("HL7", "CIS")
    exam = make_booked_exam(actor=cis)
    exam_cancel(exam=exam, reason="Cancelled by the CIS", acting_user=cis)
    assert set(exam.order.history.values_list("history_actor", flat=True)) == {"HL7:CIS"}
    actors = list(exam.history.order_by("history_id").values_list("history_actor", "history_user"))
    assert actors == [("HL7:CIS", None)] * 3  # ordered, scheduled, cancelled


@pytest.mark.django_db
def test_history_names_the_administrator_who_edited_in_the_admin_site(client, user_with_role):
    admin_user = user_with_role(Role.ADMIN, is_staff=True)
    patient = PatientFactory(family_name="Smith")
    client.force_login(admin_user)
    url = reverse("admin:ris_patient_change", args=[patient.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(
        family_name="Smyth",
        **{"coverages-TOTAL_FORMS": "0", "coverages-INITIAL_FORMS": "0", "coverages-MAX_NUM_FORMS": "0"},
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = Patient.objects.get(pk=patient.pk).history.latest()
    assert (latest.family_name, latest.history_actor) == ("Smyth", admin_user.username)


@pytest.mark.django_db
def test_history_managers_share_one_class_per_model_and_still_read_only_their_instance():
    """simple-history built a new manager class on every `.history` access (an inspect.getmembers each save)."""
    first, second = PatientFactory(), PatientFactory()
    assert type(Patient.history) is type(first.history) is type(second.history)
    assert [row.pk for row in first.history.all()] == [first.history.get().pk]
    assert Patient.history.count() == 2
    assert type(Patient.history) is not type(make_booked_exam().history)
