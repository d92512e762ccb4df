"""MPPS forwarding (IHE MPPS Manager) to a real pynetdicom MPPS SCP standing in for the PACS: in order, with the
time-zone offset, after the PACS was down, refused, given up and resent by an administrator."""

import io
import threading
import time as clock
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from ris.models import Role
from ris.tls import server_context
from scheduling.models import Exam
from tests.conftest import free_port
from tests.worklist.conftest import performed_series
from worklist import forwarding, scp, tasks
from worklist.models import DicomDestination, MppsForward

Status = MppsForward.Status
NEW_YORK = ZoneInfo("America/New_York")


# --- what is forwarded (pure) -----------------------------------------------------------------------------------


def test_the_offset_is_the_departments_at_the_steps_time_across_a_daylight_saving_change():
    # 2026-03-08 02:00 EST -> 03:00 EDT in New York.
    assert forwarding.utc_offset(datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)) == "-0500"
    assert forwarding.utc_offset(datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)) == "-0400"
    assert forwarding.utc_offset(datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("Asia/Kolkata"))) == "+0530"


def json_moment(day: str, time: str, date_tag: str = "00400244", time_tag: str = "00400245") -> dict:
    return {date_tag: {"vr": "DA", "Value": [day]}, time_tag: {"vr": "TM", "Value": [time]}}


def test_a_forward_without_an_offset_gets_the_one_at_the_time_the_step_reports():
    now = datetime(2026, 7, 1, tzinfo=NEW_YORK)
    created = forwarding.forward_dataset(json_moment("20260308", "013000"), step_attributes={}, zone=NEW_YORK, now=now)
    ended = forwarding.forward_dataset(
        json_moment("20260308", "033000.25", "00400250", "00400251"),
        step_attributes=json_moment("20260308", "013000"),
        zone=NEW_YORK,
        now=now,
    )
    assert created["00080201"] == {"vr": "SH", "Value": ["-0500"]}
    assert ended["00080201"] == {"vr": "SH", "Value": ["-0400"]}


def test_the_modalitys_own_offset_is_kept_also_on_its_n_sets():
    created = {"00080201": {"vr": "SH", "Value": ["+0900"]}, **json_moment("20260308", "013000")}
    now = datetime(2026, 7, 1, tzinfo=NEW_YORK)
    assert forwarding.forward_dataset(created, step_attributes={}, zone=NEW_YORK, now=now) == created
    update = forwarding.forward_dataset({}, step_attributes=created, zone=NEW_YORK, now=now)
    assert update["00080201"]["Value"] == ["+0900"]


# --- a pynetdicom MPPS SCP as the PACS --------------------------------------------------------------------------


@dataclass
class Pacs:
    """An MPPS SCP on `port` recording what it receives; `answers` gives the status per operation (default 0000)."""

    port: int
    received: list[tuple[str, str, Dataset, str]] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    server: object = None

    def start(self, ssl_context=None) -> "Pacs":
        ae = AE(ae_title="PACS")
        ae.require_called_aet = True
        ae.add_supported_context(ModalityPerformedProcedureStep)
        handlers = [(evt.EVT_N_CREATE, self._create), (evt.EVT_N_SET, self._set)]
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=handlers, ssl_context=ssl_context
        )
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def _answer(self, event, operation: str, uid: str, dataset: Dataset):
        self.received.append((operation, str(uid), dataset, event.assoc.requestor.ae_title))
        status = Dataset()
        status.Status = self.answers.get(operation, 0x0000)
        return status, (dataset if status.Status == 0 else None)

    def _create(self, event):
        return self._answer(event, "N-CREATE", event.request.AffectedSOPInstanceUID, event.attribute_list)

    def _set(self, event):
        return self._answer(event, "N-SET", event.request.RequestedSOPInstanceUID, event.modification_list)

    def operations(self) -> list[tuple[str, str]]:
        return [(operation, uid) for operation, uid, _, _ in self.received]


@pytest.fixture
def pacs_port():
    return free_port()


@pytest.fixture
def pacs(pacs_port):
    """The PACS, not started: a test starts it when it should be up."""
    peer = Pacs(pacs_port)
    yield peer
    peer.stop()


@pytest.fixture
def destination(db, pacs_port):
    return DicomDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=pacs_port)


def modality(port: int):
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assert assoc.is_established
    return assoc


def in_progress(exam: Exam, **extra) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedProcedureStepStartDate = "20260308"
    ds.PerformedProcedureStepStartTime = "013000"
    ds.PatientID = exam.order.patient.mrn
    item = Dataset()
    item.AccessionNumber = exam.accession_number
    item.RequestedProcedureID = exam.requested_procedure_id
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    item.StudyInstanceUID = exam.study_instance_uid
    ds.ScheduledStepAttributesSequence = [item]
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def completed() -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20260308"
    ds.PerformedProcedureStepEndTime = "033000"
    ds.PerformedSeriesSequence = [performed_series()]  # the final state (PS3.4 F.7.2.2.2)
    return ds


def perform(port: int, exam: Exam, uid: str, **extra) -> tuple[int, int]:
    """The modality's N-CREATE IN PROGRESS and N-SET COMPLETED to the RIS; their statuses."""
    assoc = modality(port)
    created, _ = assoc.send_n_create(in_progress(exam, **extra), ModalityPerformedProcedureStep, uid)
    updated, _ = assoc.send_n_set(completed(), ModalityPerformedProcedureStep, uid)
    assoc.release()
    return created.Status, updated.Status


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"


@pytest.mark.usefixtures("new_york")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_modality_to_ris_to_pacs_in_order_with_the_departments_offset(department, mwl_port, destination, pacs):
    pacs.start()
    exam = department["exams"]["muller"]
    uid = generate_uid()
    assert perform(mwl_port, exam, uid) == (0x0000, 0x0000)

    assert pacs.operations() == [("N-CREATE", uid), ("N-SET", uid)]
    (_, _, created, caller), (_, _, updated, _) = pacs.received
    assert caller == "RIS_MWL"
    assert created.ScheduledStepAttributesSequence[0].AccessionNumber == exam.accession_number
    # 2026-03-08 01:30 is EST, 03:30 EDT: each request carries the offset at its own time.
    assert (created.TimezoneOffsetFromUTC, updated.TimezoneOffsetFromUTC) == ("-0500", "-0400")
    assert updated.PerformedProcedureStepStatus == "COMPLETED"
    forwards = MppsForward.objects.order_by("id")
    assert [(f.operation, f.status, f.attempts, f.dimse_status) for f in forwards] == [
        ("N-CREATE", Status.SENT, 1, 0),
        ("N-SET", Status.SENT, 1, 0),
    ]
    assert {f.accession_number for f in forwards} == {exam.accession_number}
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.COMPLETED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_the_pacs_down_holds_both_forwards_and_the_due_run_delivers_them_in_order_once_it_is_up(
    department, mwl_port, destination, pacs, settings
):
    exam = department["exams"]["oster"]
    uid = generate_uid()
    before = timezone.now()
    # The modality is answered all the same: the forward waits, the MPPS is the RIS's.
    assert perform(mwl_port, exam, uid, TimezoneOffsetFromUTC="+0900") == (0x0000, 0x0000)
    create, update = MppsForward.objects.order_by("id")
    assert (create.status, create.attempts, update.status, update.attempts) == ("PENDING", 1, "PENDING", 0)
    base = settings.RIS_MPPS_FORWARD_RETRY_BASE_SECONDS
    assert (
        before + timedelta(seconds=2 * base) <= create.next_attempt_at <= timezone.now() + timedelta(seconds=2 * base)
    )
    assert "could not be reached" in create.last_error
    assert tasks.forward_mpps_due() == 1  # the N-SET is "due" but waits behind its N-CREATE: nothing is sent
    assert MppsForward.objects.filter(status=Status.PENDING).count() == 2

    pacs.start()
    MppsForward.objects.filter(pk=create.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    stop = forwarding.due_forwarding_start(0.2)  # as `worklist_scp` runs it without a broker
    try:
        # Watch the PACS, not the database: SQLite's shared in-memory test database locks a table a reader holds,
        # and the thread's write of the outcome would fail (then the forward is sent again, as it should be).
        deadline = clock.monotonic() + 10
        while len(pacs.operations()) < 2 and clock.monotonic() < deadline:
            clock.sleep(0.05)
    finally:
        stop.set()
        for thread in threading.enumerate():
            if thread.name == "mpps-forward-due":
                thread.join(timeout=10)  # its last outcome written
    assert pacs.operations() == [("N-CREATE", uid), ("N-SET", uid)]
    assert [dataset.TimezoneOffsetFromUTC for _, _, dataset, _ in pacs.received] == ["+0900", "+0900"]
    create.refresh_from_db()
    assert (create.status, create.attempts, create.last_error) == ("SENT", 2, "")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_an_n_set_the_pacs_refuses_is_retried_and_holds_back_the_next_one_of_its_step(
    department, mwl_port, destination, pacs
):
    pacs.answers["N-SET"] = 0x0110
    pacs.start()
    exam, other = department["exams"]["muller"], department["exams"]["oster"]
    uid = generate_uid()
    assoc = modality(mwl_port)
    assoc.send_n_create(in_progress(exam), ModalityPerformedProcedureStep, uid)
    progress = Dataset()
    progress.PerformedProcedureStepStatus = "IN PROGRESS"
    progress.CommentsOnThePerformedProcedureStep = "contrast given"
    assoc.send_n_set(progress, ModalityPerformedProcedureStep, uid)
    assoc.send_n_set(completed(), ModalityPerformedProcedureStep, uid)
    other_uid = generate_uid()
    assoc.send_n_create(in_progress(other), ModalityPerformedProcedureStep, other_uid)
    assoc.release()

    # The refused N-SET is tried again later; the COMPLETED after it waits; another step's forward goes on.
    assert pacs.operations() == [("N-CREATE", uid), ("N-SET", uid), ("N-CREATE", other_uid)]
    refused, waiting = MppsForward.objects.filter(operation="N-SET").order_by("id")
    assert (refused.status, refused.attempts, refused.dimse_status) == ("PENDING", 1, 0x0110)
    assert "N-SET refused: 0110 (failure)" in refused.last_error
    assert refused.next_attempt_at is not None
    assert (waiting.status, waiting.attempts) == ("PENDING", 0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_failed_after_the_last_attempt_then_resent_by_an_administrator_from_the_page(
    destination, pacs, settings, client, user_with_role
):
    settings.RIS_MPPS_FORWARD_MAX_ATTEMPTS = 1
    uid = generate_uid()
    # Outside a transaction the forward is queued and tried at once: the PACS is down.
    forwarding.forward_queue(sop_instance_uid=uid, operation="N-CREATE", attributes=in_progress_json())
    forwarding.forward_queue(sop_instance_uid=uid, operation="N-SET", attributes={})
    create, update = MppsForward.objects.order_by("id")
    assert (create.status, create.attempts, create.next_attempt_at) == ("FAILED", 1, None)
    assert update.status == "PENDING"
    assert tasks.forward_mpps_due() == 1  # the N-SET waits behind the FAILED N-CREATE
    assert update.attempts == MppsForward.objects.get(pk=update.pk).attempts == 0

    client.force_login(user_with_role(Role.TECHNOLOGIST))
    assert client.get(reverse("worklist:forward_log")).status_code == 403
    assert client.post(reverse("worklist:forward_resend", args=[create.pk])).status_code == 403

    admin = user_with_role(Role.ADMIN)
    client.force_login(admin)
    page = client.get(reverse("worklist:forward_log"), {"status": "FAILED"}).content.decode()
    assert uid in page
    assert "Failed: retries exhausted" in page
    assert reverse("worklist:forward_resend", args=[create.pk]) in page
    assert "<td>N-SET</td>" not in page  # the filter leaves the pending N-SET out
    everything = client.get(reverse("worklist:forward_log")).content.decode()
    assert "(behind an earlier forward of its step)" in everything

    pacs.start()
    answer = client.post(reverse("worklist:forward_resend", args=[create.pk]), follow=True)
    assert answer.redirect_chain[-1][0] == reverse("worklist:forward_log")
    assert pacs.operations() == [("N-CREATE", uid), ("N-SET", uid)]
    create.refresh_from_db()
    assert (create.status, create.attempts) == ("SENT", 1)
    assert create.history.filter(history_actor=admin.username, history_change_reason="resent").exists()
    again = client.post(reverse("worklist:forward_resend", args=[create.pk]), follow=True).content.decode()
    assert "only a failed one is resent" in again


def in_progress_json() -> dict:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepStartDate = "20260701"
    ds.PerformedProcedureStepStartTime = "120000"
    return ds.to_json_dict()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_duplicate_answer_to_an_n_create_counts_as_delivered_and_disabled_destinations_get_nothing(
    destination, pacs, pacs_port
):
    DicomDestination.objects.create(name="Off", ae_title="OFF", host="127.0.0.1", port=pacs_port, enabled=False)
    DicomDestination.objects.create(name="No MPPS", ae_title="X", host="127.0.0.1", port=pacs_port, forwards_mpps=False)
    pacs.answers["N-CREATE"] = 0x0111
    pacs.start()
    uid = generate_uid()
    forwarding.forward_queue(sop_instance_uid=uid, operation="N-CREATE", attributes=in_progress_json())
    forward = MppsForward.objects.get()
    assert (forward.destination, forward.status, forward.dimse_status) == (destination, "SENT", 0x0111)
    assert "0111" in forward.last_error


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.slow
def test_a_destination_with_tls_gets_the_forward_over_mutual_tls(destination, pacs, certificates, settings):
    pacs.start(
        server_context(str(certificates / "server.pem"), str(certificates / "server.key"), str(certificates / "ca.pem"))
    )
    settings.RIS_MWL_TLS_CA = str(certificates / "ca.pem")
    settings.RIS_MWL_TLS_CERT = str(certificates / "client.pem")
    settings.RIS_MWL_TLS_KEY = str(certificates / "client.key")
    destination.use_tls = True
    destination.save()
    uid = generate_uid()
    forwarding.forward_queue(sop_instance_uid=uid, operation="N-CREATE", attributes=in_progress_json())
    assert MppsForward.objects.get().status == "SENT"
    assert pacs.operations() == [("N-CREATE", uid)]


@pytest.mark.django_db
def test_an_administrator_configures_a_destination_in_the_admin_and_its_history_names_them(client, user_with_role):
    admin = user_with_role(Role.ADMIN, is_staff=True)  # the role's permissions, no superuser
    client.force_login(admin)
    form = {"name": "PACS", "ae_title": "PACS", "host": "pacs.example", "port": 104, "forwards_mpps": "on"}
    refused = client.post(reverse("admin:worklist_dicomdestination_add"), {**form, "ae_title": "BAD\\AE"})
    assert "An AE title is 1 to 16 printable ASCII characters" in refused.content.decode()
    assert client.post(reverse("admin:worklist_dicomdestination_add"), {**form, "enabled": "on"}).status_code == 302
    destination = DicomDestination.objects.get()
    changed = {**form, "port": 11112}  # "enabled" left out: switched off
    assert (
        client.post(reverse("admin:worklist_dicomdestination_change", args=[destination.pk]), changed).status_code
        == 302
    )
    assert [(h.port, h.enabled, h.history_actor) for h in destination.history.order_by("history_id")] == [
        (104, True, admin.username),
        (11112, False, admin.username),
    ]


@pytest.mark.django_db
def test_without_a_broker_the_worklist_scp_command_runs_the_due_forwarding_thread(monkeypatch, settings):
    settings.RIS_MPPS_FORWARD_POLL_SECONDS = 7
    started = []

    def due_forwarding_start(interval):
        started.append(interval)
        return threading.Event()

    def serve(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(forwarding, "due_forwarding_start", due_forwarding_start)
    monkeypatch.setattr(scp, "start", serve)
    call_command("worklist_scp", stdout=io.StringIO())
    assert started == [7]
