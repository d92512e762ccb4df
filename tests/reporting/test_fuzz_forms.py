"""Fuzzing the report authoring forms through their views, as a radiologist: random and mutated POST bodies.

Bodies are form-encoded pairs of the forms' own fields, extra fields and missing ones, with any text (control
characters and NUL included), lengths around and over the limits, numbers where text goes and text where numbers
go, then sometimes mutated at the byte level (bytes that are not UTF-8, stray % & =, truncation). No answer is a
5xx, and a form the view finds invalid, or a refusal, writes nothing: no report, addendum, history row, reading
claim or outbox event.
"""

from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting import services
from reporting.forms import AddendumForm, AddendumSignForm, PreliminaryForm, ReportForm, SignForm
from reporting.models import SECTIONS, Addendum, ReadingClaim, Report, ReportTemplate
from ris.models import OutboxEvent
from scheduling.models import Exam
from tests.factories import TEST_PASSWORD, make_completed_exam, make_radiologist
from tests.fuzzing import form_bodies, row_counts

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}
# view -> (the form it binds the POST to, its prefix)
VIEWS = {
    "autosave": (ReportForm, None),
    "preliminary": (PreliminaryForm, None),
    "sign": (SignForm, None),
    "addendum_save": (AddendumForm, None),
    "addendum_sign": (AddendumSignForm, "addendum"),
}
FIELDS = [*SECTIONS, "template", "revision", "password", "text", "addendum", "addendum-password"]
EXTRA_FIELDS = ["status", "author", "signed_by", "exam", "id", "csrfmiddlewaretoken", "", "section[]", "a" * 300]
ODD_VALUES = [
    *["", " ", "\x00", "a\x00b", "\r\n", "\x1b[31m", "\ufeff", "\u202e", "%00", "&", "="],
    *["0", "-1", "1.5", "1e9", "99999999999999999999999", "true", "null", "[]", "{}"],
    *["<script>alert(1)</script>", "' OR 1=1 --", "{{ request }}", "../../etc/passwd"],
]


def values(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=60),  # any code point but surrogates: control characters and NUL included
        st.sampled_from(ODD_VALUES),
        st.integers(19_990, 20_010).map(lambda n: "x" * n),  # around the sections' 20,000 characters
        st.sampled_from(known),
    )


def bodies(valid: dict[str, str], known: list[str]) -> st.SearchStrategy[bytes]:
    keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from(EXTRA_FIELDS), st.text(max_size=8))
    return form_bodies(list(valid.items()), keys, lambda _field="": values(known))


def written() -> dict[str, int]:
    return row_counts((Report, Addendum, ReadingClaim, OutboxEvent), (Report, Addendum, Exam))


@pytest.fixture
def reading():
    """A radiologist with a draft on one exam and, on another, a final report with an addendum draft."""
    doctor = make_radiologist()
    draft, final = make_completed_exam(), make_completed_exam()
    template = ReportTemplate.objects.create(name="Chest", findings="Normal.")
    services.report_save_draft(exam=draft, user=doctor, sections={"impression": "Effusion."})
    report = services.report_save_draft(exam=final, user=doctor, sections={"impression": "Normal."})
    services.report_sign_final(report=report, user=doctor, password=TEST_PASSWORD)
    addendum = services.addendum_save(report=report, user=doctor, text="Compared with outside CT.")
    client = Client()
    client.force_login(doctor)
    sections = {name: f"{name} text." for name in SECTIONS}
    valid = {
        "autosave": {**sections, "template": str(template.pk), "revision": "1"},
        "preliminary": {},
        "sign": {"password": TEST_PASSWORD},
        "addendum_save": {"text": "Unchanged.", "addendum": str(addendum.pk)},
        "addendum_sign": {"addendum": str(addendum.pk), "addendum-password": TEST_PASSWORD},
    }
    known = [TEST_PASSWORD, str(template.pk), str(addendum.pk), "Small effusion.", "1", "2"]
    return {"client": client, "exams": [draft, final], "valid": valid, "known": known}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), view=st.sampled_from(sorted(VIEWS)), fetch=st.booleans(), which=st.integers(0, 1))
def test_report_forms_answer_without_5xx_and_an_invalid_post_writes_nothing(reading, data, view, fetch, which):
    body = data.draw(bodies(reading["valid"][view], reading["known"]), label="body")
    exam = reading["exams"][which]
    form_class, prefix = VIEWS[view]
    valid = form_class(QueryDict(body), prefix=prefix).is_valid()
    before = written()
    response = reading["client"].post(
        reverse(f"reporting:{view}", args=[exam.pk]), data=body, content_type=FORM, **(FETCH if fetch else {})
    )
    status = response.status_code
    assert status < 500
    # Refused: 400, 404, 409, or the editor shown again with the errors (200; for autosave's JSON, a success).
    if not valid or status in (400, 404, 409) or (status == 200 and view != "autosave"):
        assert written() == before, status
    if not valid and view == "autosave" and fetch:
        assert status == 400


def test_a_post_over_the_upload_limit_is_refused_and_writes_nothing(reading):
    body = b"findings=" + b"x" * django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    before = written()
    response = reading["client"].post(
        reverse("reporting:autosave", args=[reading["exams"][0].pk]), data=body, content_type=FORM, **FETCH
    )
    assert response.status_code == 400
    assert written() == before


@pytest.mark.parametrize("view", ["addendum_save", "addendum_sign"])
@pytest.mark.parametrize("addendum", ["abc", "1.0", "-", "²"])
def test_an_addendum_id_that_is_no_number_is_404(reading, view, addendum):
    """It was a 500: the ID went to the database lookup as posted."""
    body = urlencode({"addendum": addendum, "text": "More.", "addendum-password": TEST_PASSWORD}).encode()
    before = written()
    response = reading["client"].post(reverse(f"reporting:{view}", args=[reading["exams"][1].pk]), body, FORM)
    assert response.status_code == 404
    assert written() == before
