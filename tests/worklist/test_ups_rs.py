"""UPS-RS (DICOMweb Worklist Service, PS3.18 11) over the exams: search, retrieve, claim, update, complete, cancel,
with the HTTP statuses and Warning headers PS3.18 names; and a real HTTP client walking a workitem from SCHEDULED
to COMPLETED while the exam page follows."""

import base64
import re
import uuid
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pydicom import Dataset, config
from pydicom.multival import MultiValue
from pydicom.valuerep import validate_value

from ris.models import Role
from scheduling.models import Exam
from tests.factories import (
    TEST_PASSWORD,
    ProcedureTypeFactory,
    UserFactory,
    local_at,
    make_booked_exam,
    room_open_round_the_clock,
)
from worklist.models import Workitem
from worklist.ups import workitem_uid

pytestmark = pytest.mark.django_db

SEARCH = "/api/dicomweb/workitems"
DICOM_JSON = "application/dicom+json"
STATE, TRANSACTION, PERFORMED = "00741000", "00081195", "00741216"


def basic(user) -> dict:
    token = base64.b64encode(f"{user.username}:{TEST_PASSWORD}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.fixture
def technologist():
    return UserFactory(role=Role.TECHNOLOGIST, username="tech.ups")


@pytest.fixture
def api(technologist):
    """A client signed in per request with HTTP Basic, as a technologist."""

    class Api:
        def __init__(self, user):
            self.client, self.auth = Client(), basic(user)

        def get(self, path, **params):
            return self.client.get(path, params, HTTP_ACCEPT=DICOM_JSON, **self.auth)

        def put(self, path, body):
            return self.client.put(path, body, content_type=DICOM_JSON, **self.auth)

        def post(self, path, body):
            return self.client.post(path, body, content_type=DICOM_JSON, **self.auth)

    return Api(technologist)


def uid_of(exam: Exam) -> str:
    return workitem_uid(exam.study_instance_uid, exam.scheduled_procedure_step_id)


def value(dataset: dict, tag: str):
    return (dataset.get(tag, {}).get("Value") or [None])[0]


def state_body(state: str, transaction_uid: str | None) -> list[dict]:
    body = {STATE: {"vr": "CS", "Value": [state]}}
    if transaction_uid is not None:
        body[TRANSACTION] = {"vr": "UI", "Value": [transaction_uid]}
    return [body]


def performed_body(start: str, end: str) -> list[dict]:
    item = Dataset()
    item.PerformedProcedureStepStartDateTime = start
    item.PerformedProcedureStepEndDateTime = end
    item.PerformedStationNameCodeSequence = []
    item.OutputInformationSequence = []
    dataset = Dataset()
    dataset.UnifiedProcedureStepPerformedProcedureSequence = [item]
    return [dataset.to_json_dict()]


def new_uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def accessions(response) -> set[str]:
    return {value(value(item, "0040A370"), "00080050") for item in response.json()}


# --- search -------------------------------------------------------------------------------------------------------


def test_search_answers_every_scheduled_exam_as_a_dicom_json_workitem(api, department):
    response = api.get(SEARCH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(DICOM_JSON)
    items = response.json()
    assert len(items) == len(department["exams"])
    muller = department["exams"]["muller"]
    [item] = [item for item in items if value(item, "00100020") == "P1"]
    assert value(item, "00080016") == "1.2.840.10008.5.1.4.34.6.1"
    assert value(item, "00080018") == uid_of(muller)
    assert value(item, STATE) == "SCHEDULED"
    assert value(item, "00404041") == "READY"
    assert value(item, "00741200") == "MEDIUM"
    assert value(item, "00100010") == {"Alphabetic": "Müller^Jürgen"}
    start = timezone.localtime(muller.scheduled_start)
    assert value(item, "00404005") == f"{start:%Y%m%d%H%M%S%z}"  # DT with its offset
    assert value(item, "00080201") == f"{start:%z}"
    request = value(item, "0040A370")
    assert value(request, "00080050") == muller.accession_number
    assert value(request, "0020000D") == muller.study_instance_uid
    assert value(request, "00401001") == muller.requested_procedure_id
    assert value(value(item, "00404025"), "00080100") == "CT1"  # the station's AE title
    assert value(value(item, "00404026"), "00080100") == "CT"
    assert value(value(item, "00404018"), "00080100") == "CTHEAD"
    assert TRANSACTION not in item
    assert Workitem.objects.get(exam=muller).sop_instance_uid == uid_of(muller)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"PatientID": "P2"}, {"oster"}),
        ({"00100020": "P2"}, {"oster"}),
        ({"PatientName": "Smith^*"}, {"smith", "tomorrow"}),
        ({"ScheduledStationNameCodeSequence.CodeValue": "CT1"}, {"muller", "oster", "tomorrow"}),
        ({"00404026.00080100": "MR"}, {"smith"}),
        ({"ScheduledStationClassCodeSequence.CodeValue": "CT", "PatientSex": "F"}, {"oster"}),
    ],
)
def test_search_matches_the_keys_it_is_given(api, department, params, expected):
    response = api.get(SEARCH, **params)
    assert response.status_code == 200, response.content
    assert accessions(response) == {department["exams"][name].accession_number for name in expected}


def test_search_by_accession_number_state_and_start_range(api, department):
    exams = department["exams"]
    found = api.get(SEARCH, **{"ReferencedRequestSequence.AccessionNumber": exams["yamada"].accession_number})
    assert accessions(found) == {exams["yamada"].accession_number}
    tomorrow = timezone.localdate() + timedelta(days=1)
    found = api.get(SEARCH, ScheduledProcedureStepStartDateTime=f"{tomorrow:%Y%m%d}")
    assert accessions(found) == {exams["tomorrow"].accession_number}
    found = api.get(SEARCH, ScheduledProcedureStepStartDateTime=f"-{timezone.localdate():%Y%m%d}")
    assert exams["tomorrow"].accession_number not in accessions(found)
    assert len(found.json()) == 4
    assert api.get(SEARCH, ProcedureStepState="COMPLETED").status_code == 204


def test_search_returns_the_clinical_facts_only_when_includefield_asks(api, department):
    plain = api.get(SEARCH, PatientID="P1").json()[0]
    assert "00102110" not in plain  # Allergies
    asked = api.get(SEARCH, PatientID="P1", includefield="Allergies").json()[0]
    assert "00102110" in asked
    everything = api.get(SEARCH, PatientID="P1", includefield="all").json()[0]
    assert {"00102110", "00102000", "001021C0", "00400400"} <= set(everything)


def test_search_without_matches_is_204(api, department):
    response = api.get(SEARCH, PatientID="NOBODY")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    "params",
    [
        {"NoSuchAttribute": "1"},
        {"PatientWeight": "80"},  # a DICOM attribute, not a matching key here
        {"ScheduledProcedureStepStartDateTime": "2026-13-45"},
        {"ProcedureStepState": "DONE"},
        {"limit": "0"},
        {"offset": "x"},
        {"SOPInstanceUID": "not.a.uid!"},
    ],
)
def test_search_refuses_parameters_it_cannot_use_with_400(api, department, params):
    response = api.get(SEARCH, **params)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_search_pages_with_limit_and_offset_and_says_there_is_more(api, department):
    first = api.get(SEARCH, limit=2)
    assert len(first.json()) == 2
    assert "There are additional results that can be requested." in first["Warning"]
    rest = api.get(SEARCH, limit=10, offset=2)
    assert len(rest.json()) == 3
    assert "Warning" not in rest
    assert accessions(first).isdisjoint(accessions(rest))


def test_fuzzy_matching_is_refused_with_a_warning_and_literal_matching(api, department):
    response = api.get(SEARCH, PatientName="Smi", fuzzymatching="true")
    assert response.status_code == 204
    assert "fuzzymatching parameter is not supported" in response["Warning"]


# --- retrieve -----------------------------------------------------------------------------------------------------


def test_retrieve_answers_the_whole_workitem_and_404_for_an_unknown_one(api, department):
    exam = department["exams"]["smith"]
    api.get(SEARCH, PatientID="P4")
    response = api.get(reverse("dicomweb:workitem", args=[uid_of(exam)]))
    assert response.status_code == 200
    [item] = response.json()
    assert value(item, "00080018") == uid_of(exam)
    assert "00102110" in item  # the clinical facts too
    assert api.get(reverse("dicomweb:workitem", args=[new_uid()])).status_code == 404


# --- change state and update ---------------------------------------------------------------------------------


@pytest.fixture
def claimed(api, department, technologist):
    """The first exam's workitem, claimed by the technologist: (exam, its workitem URL, the Transaction UID)."""
    exam = department["exams"]["muller"]
    api.get(SEARCH, PatientID="P1")
    url = reverse("dicomweb:workitem", args=[uid_of(exam)])
    transaction_uid = new_uid()
    response = api.put(f"{url}/state", state_body("IN PROGRESS", transaction_uid))
    assert response.status_code == 200, response.content
    return exam, url, transaction_uid


def test_claiming_starts_the_exam_and_keeps_the_transaction_uid_secret(api, claimed, technologist):
    exam, url, transaction_uid = claimed
    exam.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS
    assert exam.history.first().history_actor == technologist.username
    item = Workitem.objects.get(exam=exam)
    assert (item.transaction_uid, item.claimed_by) == (transaction_uid, technologist.username)
    assert item.history.first().history_actor == technologist.username
    [dataset] = api.get(url).json()
    assert value(dataset, STATE) == "IN PROGRESS"
    assert TRANSACTION not in dataset


def test_a_claimed_workitem_cannot_be_claimed_again(api, claimed):
    _exam, url, _transaction_uid = claimed
    response = api.put(f"{url}/state", state_body("IN PROGRESS", new_uid()))
    assert response.status_code == 409
    assert "inconsistent with the state of the UPS Instance" in response["Warning"]
    assert response["Warning"].startswith("299 ")


def test_the_transaction_uid_must_be_the_claims(api, claimed):
    exam, url, _transaction_uid = claimed
    wrong = api.put(f"{url}/state", state_body("COMPLETED", new_uid()))
    assert wrong.status_code == 400
    assert "The Transaction UID is incorrect." in wrong["Warning"]
    missing = api.put(f"{url}/state", state_body("COMPLETED", None))
    assert missing.status_code == 400
    assert "The Transaction UID is missing." in missing["Warning"]
    exam.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS


def test_completing_needs_the_performed_procedure_first(api, claimed):
    exam, url, transaction_uid = claimed
    response = api.put(f"{url}/state", state_body("COMPLETED", transaction_uid))
    assert response.status_code == 409
    assert "Performed Procedure" in response.json()["detail"]
    exam.refresh_from_db()
    assert exam.status == Exam.Status.IN_PROGRESS


def test_update_is_for_the_claims_holder_and_the_performers_attributes_only(api, claimed):
    _exam, url, transaction_uid = claimed
    start = timezone.localtime()
    body = performed_body(f"{start:%Y%m%d%H%M%S}", f"{start + timedelta(minutes=10):%Y%m%d%H%M%S}")
    assert api.post(f"{url}?{new_uid()}", body).status_code == 400
    assert api.post(url, body).status_code == 400  # no Transaction UID
    forbidden = [{**body[0], "00100020": {"vr": "LO", "Value": ["OTHER"]}}]
    response = api.post(f"{url}?{transaction_uid}", forbidden)
    assert response.status_code == 400
    assert "PatientID" in response.json()["detail"]
    assert api.post(f"{url}?{transaction_uid}", body).status_code == 200
    [dataset] = api.get(url).json()
    assert PERFORMED in dataset
    assert value(value(dataset, PERFORMED), "00404050")


def test_a_scheduled_workitem_is_not_updated(api, department):
    exam = department["exams"]["oster"]
    api.get(SEARCH, PatientID="P2")
    url = reverse("dicomweb:workitem", args=[uid_of(exam)])
    response = api.post(url, performed_body("20260101080000", "20260101081000"))
    assert response.status_code == 409


def test_completed_over_ups_completes_the_exam_like_an_mpps(api, claimed, technologist):
    exam, url, transaction_uid = claimed
    start = timezone.localtime() - timedelta(minutes=5)
    body = performed_body(f"{start:%Y%m%d%H%M%S}", f"{start + timedelta(minutes=4):%Y%m%d%H%M%S}")
    assert api.post(f"{url}?{transaction_uid}", body).status_code == 200
    response = api.put(f"{url}/state", state_body("COMPLETED", transaction_uid))
    assert response.status_code == 200, response.content
    exam.refresh_from_db()
    assert exam.status == Exam.Status.COMPLETED
    assert exam.history.first().history_actor == technologist.username
    again = api.put(f"{url}/state", state_body("COMPLETED", transaction_uid))
    assert again.status_code == 200
    assert "already in the requested state of COMPLETED" in again["Warning"]
    assert api.put(f"{url}/state", state_body("CANCELED", transaction_uid)).status_code == 409
    assert value(api.get(url).json()[0], STATE) == "COMPLETED"


def test_canceled_discontinues_the_exam(api, claimed):
    exam, url, transaction_uid = claimed
    response = api.put(f"{url}/state", state_body("CANCELED", transaction_uid))
    assert response.status_code == 200, response.content
    exam.refresh_from_db()
    assert exam.status == Exam.Status.DISCONTINUED
    assert exam.status_reason
    again = api.put(f"{url}/state", state_body("CANCELED", transaction_uid))
    assert "already in the requested state of CANCELED" in again["Warning"]
    assert value(api.get(url).json()[0], STATE) == "CANCELED"


def test_a_scheduled_workitem_is_claimed_before_it_is_completed_or_canceled(api, department):
    exam = department["exams"]["oster"]
    api.get(SEARCH, PatientID="P2")
    url = reverse("dicomweb:workitem", args=[uid_of(exam)])
    for state in ("COMPLETED", "CANCELED", "SCHEDULED"):
        response = api.put(f"{url}/state", state_body(state, new_uid()))
        assert response.status_code == 409, state
    assert api.put(f"{url}/state", [{"00100020": {"vr": "LO", "Value": ["x"]}}]).status_code == 400
    assert api.put(f"{url}/state", "not json").status_code == 400
    exam.refresh_from_db()
    assert exam.status == Exam.Status.SCHEDULED
    unknown = reverse("dicomweb:workitem-state", args=[new_uid()])
    assert api.put(unknown, state_body("IN PROGRESS", new_uid())).status_code == 404


# --- who may -----------------------------------------------------------------------------------------------------


def test_unauthenticated_is_401_with_a_challenge_and_other_roles_403(department):
    anonymous = Client().get(SEARCH)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Basic")
    desk = UserFactory(role=Role.FRONT_DESK)
    assert Client().get(SEARCH, **basic(desk)).status_code == 403
    admin = UserFactory(role=Role.ADMIN)
    assert Client().get(SEARCH, **basic(admin)).status_code == 200


def test_only_dicom_json_is_answered(api, department):
    response = api.client.get(SEARCH, HTTP_ACCEPT="application/dicom+xml", **api.auth)
    assert response.status_code == 406
    assert api.client.get(SEARCH, HTTP_ACCEPT="application/json", **api.auth).status_code == 200


# --- a real HTTP client walks a workitem, and the exam page follows ----------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_http_client_walks_a_workitem_to_completed_and_the_exam_page_shows_it(live_server, department):
    technologist = UserFactory(role=Role.TECHNOLOGIST, username="tech.walk")
    exam = department["exams"]["smith"]
    http = requests.Session()
    http.auth = (technologist.username, TEST_PASSWORD)
    http.headers["Accept"] = DICOM_JSON
    base = f"{live_server.url}{SEARCH}"
    page = Client()
    page.force_login(technologist)
    exam_page = reverse("scheduling:exam", args=[exam.pk])

    found = http.get(base, params={"PatientID": "P4", "ProcedureStepState": "SCHEDULED"}, timeout=10)
    assert found.status_code == 200
    [item] = [item for item in found.json() if value(item, "00404005").startswith(f"{timezone.localdate():%Y%m%d}")]
    uid = value(item, "00080018")
    url = f"{base}/{uid}"
    headers = {"Content-Type": DICOM_JSON}
    assert "transaction in progress" not in page.get(exam_page).content.decode()

    transaction_uid = new_uid()
    claim = http.put(f"{url}/state", json=state_body("IN PROGRESS", transaction_uid), headers=headers, timeout=10)
    assert claim.status_code == 200, claim.text
    shown = page.get(exam_page).content.decode()
    assert uid in shown
    assert "IN PROGRESS" in shown
    assert "transaction in progress" in shown
    assert "tech.walk" in shown

    start = timezone.localtime() - timedelta(minutes=3)
    end = start + timedelta(minutes=2)
    update = http.post(
        f"{url}?{transaction_uid}",
        json=performed_body(f"{start:%Y%m%d%H%M%S}", f"{end:%Y%m%d%H%M%S}"),
        headers=headers,
        timeout=10,
    )
    assert update.status_code == 200, update.text
    done = http.put(f"{url}/state", json=state_body("COMPLETED", transaction_uid), headers=headers, timeout=10)
    assert done.status_code == 200, done.text

    assert value(http.get(url, timeout=10).json()[0], STATE) == "COMPLETED"
    exam.refresh_from_db()
    assert exam.status == Exam.Status.COMPLETED
    shown = page.get(exam_page).content.decode()
    assert re.search(r"UPS workitem.*COMPLETED", shown, re.DOTALL)
    assert f"{start:%Y-%m-%d %H:%M} \N{EN DASH} {end:%H:%M}" in shown  # what the client reported it performed
    assert "transaction in progress" not in shown
    assert "tech.walk" in shown  # the history names the technologist


# --- every value fits its VR (issue point 7, for UPS) -------------------------------------------------------------


def _elements(dataset: Dataset):
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                yield from _elements(item)
        else:
            yield element


BINARY_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD"})


def test_every_attribute_of_every_workitem_fits_its_vr(api, department):
    """The longest texts the RIS holds (a 128-character procedure name, a long reason with a backslash and line
    breaks, a 64-character placer order number) in every state."""
    long_name = ProcedureTypeFactory(code="CTLONG", name=("CT " + "angiography of everything " * 5)[:128])
    exam = make_booked_exam(
        procedure_types=[long_name],
        room=room_open_round_the_clock(modality=department["rooms"]["CT1"].modality, station_ae_title="CT9"),
        start=local_at(timezone.localdate() + timedelta(days=1), 10),
        reason="Suspected\\dissection; " * 10 + "\nsecond line",
        placer_order_number="P" * 64,
        priority="STAT",
    )
    api.get(SEARCH, PatientID=exam.order.patient.mrn)
    states = "SCHEDULED,IN PROGRESS,COMPLETED,CANCELED"
    response = api.get(SEARCH, ProcedureStepState=states, includefield="all", limit=100)
    assert response.status_code == 200
    items = response.json()
    assert len(items) == len(department["exams"]) + 1
    checked = 0
    for item in items:
        for element in _elements(Dataset.from_json(item)):
            values = element.value if isinstance(element.value, list | MultiValue) else [element.value]
            for one in values:
                if one not in (None, ""):
                    text = one if element.VR in BINARY_VRS else str(one)
                    validate_value(element.VR, text, config.RAISE)  # length and character repertoire
                    checked += 1
    assert checked > 20 * len(items)
    [long] = [item for item in items if value(item, "00100020") == exam.order.patient.mrn]
    reason = value(long, "0040A370")["00401002"]["Value"]
    assert len(reason) == 1  # one value: the backslash is not a value delimiter here
    assert reason[0].startswith("Suspected/dissection")
