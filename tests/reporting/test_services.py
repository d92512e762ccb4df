"""Report authoring rules: claims, drafts, preliminary and final signing, immutability, addenda, critical results,
and the ORU^R01 that leaves on signing."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from interfaces.models import OutboundMessage
from interfaces.outbox import outbox_drain
from reporting import selectors, services
from reporting.models import Addendum, Report, ReportTemplate
from ris.exceptions import ApplicationError
from ris.models import OutboxEvent
from scheduling.models import Exam
from tests.factories import (
    TEST_PASSWORD,
    DestinationFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    make_completed_exam,
    make_radiologist,
)

pytestmark = pytest.mark.django_db

SECTIONS = {"findings": "Small left pleural effusion.", "impression": "Small left effusion. No pneumothorax."}


def signed(exam, attending) -> Report:
    report = services.report_save_draft(exam=exam, user=attending, sections=SECTIONS)
    return services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)


def test_a_draft_needs_the_claim_and_another_radiologist_is_kept_out(exam, attending, resident):
    services.report_save_draft(exam=exam, user=resident, sections={"findings": "Draft"})
    with pytest.raises(ApplicationError, match="is reading this exam"):
        services.report_save_draft(exam=exam, user=attending, sections={"findings": "Mine"})
    assert Report.objects.get().findings == "Draft"


def test_a_claim_lapses_after_inactivity(exam, attending, resident, settings):
    settings.RIS_READING_CLAIM_MINUTES = 15
    services.reading_claim(exam=exam, user=resident, now=timezone.now() - timedelta(minutes=16))
    assert selectors.claim_holder(exam) is None
    services.report_save_draft(exam=exam, user=attending, sections={"findings": "Taken over"})
    assert selectors.claim_holder(exam) == attending


def test_the_resident_saves_preliminary_and_cannot_sign_final(exam, resident):
    report = services.report_save_draft(exam=exam, user=resident, sections=SECTIONS)
    services.report_sign_preliminary(report=report, user=resident)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.PRELIMINARY
    with pytest.raises(ApplicationError, match="attending"):
        services.report_sign_final(report=report, user=resident, password=TEST_PASSWORD)


def test_after_a_preliminary_save_the_attending_may_take_the_exam_at_once(exam, resident, attending):
    report = services.report_save_draft(exam=exam, user=resident, sections=SECTIONS)
    services.report_sign_preliminary(report=report, user=resident)
    agreed = {"impression": "Agreed. " + SECTIONS["impression"]}
    services.report_save_draft(exam=exam, user=attending, sections=agreed, based_on=report.revision)
    assert services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD).is_final


def test_signing_final_needs_the_password(exam, attending):
    report = services.report_save_draft(exam=exam, user=attending, sections=SECTIONS)
    with pytest.raises(ApplicationError, match="password"):
        services.report_sign_final(report=report, user=attending, password="wrong")
    assert Report.objects.get().status == Report.Status.DRAFT


def test_a_final_report_is_refused_by_the_service_and_by_the_database(exam, attending):
    report = signed(exam, attending)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.FINAL
    with pytest.raises(ApplicationError, match="amended by an addendum"):
        services.report_save_draft(exam=exam, user=attending, sections={"impression": "Changed"})
    with pytest.raises(IntegrityError), transaction.atomic():
        Report.objects.filter(pk=report.pk).update(impression="Changed behind the service's back")
    report.impression = "Changed by a plain save"
    with pytest.raises(IntegrityError), transaction.atomic():
        report.save()
    assert Report.objects.get().impression == SECTIONS["impression"]


def test_an_addendum_is_signed_amends_the_exam_and_is_then_immutable(exam, attending):
    report = signed(exam, attending)
    addendum = services.addendum_save(report=report, user=attending, text="Comparison with prior: unchanged.")
    services.addendum_sign(addendum=addendum, user=attending, password=TEST_PASSWORD)
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.AMENDED
    with pytest.raises(ApplicationError, match="signed"):
        services.addendum_save(report=report, user=attending, text="Again", addendum=addendum)
    with pytest.raises(IntegrityError), transaction.atomic():
        Addendum.objects.filter(pk=addendum.pk).update(text="Rewritten")
    assert report.history.count() >= 2  # draft and final versions are kept


def test_signing_final_and_each_addendum_send_oru_r01_with_the_report_text(exam, attending):
    DestinationFactory(name="CIS", message_types=["ORU"])
    report = signed(exam, attending)
    addendum = services.addendum_save(report=report, user=attending, text="Addendum text here.")
    services.addendum_sign(addendum=addendum, user=attending, password=TEST_PASSWORD)
    kinds = OutboxEvent.objects.filter(kind__startswith="report.").order_by("id").values_list("kind", flat=True)
    assert list(kinds) == ["report.final", "report.addendum"]
    outbox_drain()
    final, amended = OutboundMessage.objects.filter(message_type="ORU").order_by("id")
    assert "OBX|" in final.raw
    assert "|TX|" in final.raw
    assert "Small left effusion" in final.raw
    assert "|F|" in final.raw.split("OBR|")[1]
    assert "Addendum text here." in amended.raw
    assert "Addendum text here." not in final.raw
    assert final.accession_number == exam.accession_number


def test_an_addendum_is_signed_by_its_author_or_co_signed_and_the_oru_names_who(exam, attending, resident):
    DestinationFactory(name="CIS", message_types=["ORU"])
    attending.first_name, attending.last_name = "Ada", "Attending"
    attending.save()
    resident.first_name, resident.last_name = "Remy", "Resident"
    resident.save()
    colleague = make_radiologist(attending=True)
    report = signed(exam, attending)
    theirs = services.addendum_save(report=report, user=colleague, text="A colleague's addendum.")
    with pytest.raises(ApplicationError, match="author"):
        services.addendum_sign(addendum=theirs, user=attending, password=TEST_PASSWORD)
    residents = services.addendum_save(report=report, user=resident, text="Resident's addendum.")
    services.addendum_sign(addendum=residents, user=attending, password=TEST_PASSWORD)
    outbox_drain()

    amended = OutboundMessage.objects.filter(message_type="ORU").order_by("id").last()
    assert Addendum.objects.get(pk=theirs.pk).signed_at is None
    assert Addendum.objects.get(pk=residents.pk).signed_by == attending
    assert "ADDENDUM by Remy Resident, co-signed by Ada Attending" in amended.raw
    assert "A colleague's addendum" not in amended.raw


def test_the_template_of_the_procedure_beats_the_modality_one(exam):
    other = ProcedureTypeFactory(modality=exam.procedure_type.modality)
    ReportTemplate.objects.create(name="Modality", modality=exam.procedure_type.modality, technique="generic")
    ReportTemplate.objects.create(name="Procedure", procedure_type=exam.procedure_type, technique="specific")
    ReportTemplate.objects.create(name="Other", procedure_type=other, technique="other")
    assert selectors.template_for(exam).name == "Procedure"


def test_critical_results_stay_open_until_notified_and_closed(exam, attending):
    report = services.report_save_draft(exam=exam, user=attending, sections=SECTIONS)
    critical = services.critical_flag(report=report, user=attending, category="RED", description="Tension pneumothorax")
    assert list(selectors.critical_results_open()) == [critical]
    with pytest.raises(ApplicationError, match="notified"):
        services.critical_close(critical=critical, user=attending)
    services.critical_notify(critical=critical, user=attending, person="Dr Ward (ED)", method="PHONE")
    services.critical_close(critical=critical, user=attending)
    assert list(selectors.critical_results_open()) == []


def test_the_reading_worklist_puts_stat_first_then_the_oldest_and_leaves_final_out(attending):
    old, stat, newer = make_completed_exam(), make_completed_exam(priority="STAT"), make_completed_exam()
    done = make_completed_exam()
    signed(done, attending)
    assert list(selectors.reading_worklist()) == [stat, old, newer]


def test_mine_and_a_referrers_list_keep_stat_first_then_the_oldest_page_by_page(attending, resident):
    referrer = ReferringPhysicianFactory()
    old, stat, newer = (
        make_completed_exam(referring_physician=referrer),
        make_completed_exam(priority="STAT", referring_physician=referrer),
        make_completed_exam(referring_physician=referrer),
    )
    someone_elses = make_completed_exam()
    for exam in (newer, old, stat):
        services.report_save_draft(exam=exam, user=resident, sections={"findings": "Draft"})
    services.report_save_draft(exam=someone_elses, user=attending, sections={"findings": "Draft"})

    for worklist in (
        selectors.reading_worklist(user=resident, mine=True),
        selectors.reading_worklist(referring_physician=referrer.pk),
    ):
        assert (worklist.count(), list(worklist)) == (3, [stat, old, newer])
        assert (worklist[0:2], worklist[2:3], worklist[1]) == ([stat, old], [newer], old)
    assert list(selectors.reading_worklist(user=attending, mine=True, referring_physician=referrer.pk)) == []


def test_the_viewer_link_fills_in_the_study(exam, settings):
    settings.RIS_VIEWER_URL_TEMPLATE = "https://pacs.example.org/viewer?StudyInstanceUIDs={study_uid}"
    assert selectors.viewer_url(exam) == f"https://pacs.example.org/viewer?StudyInstanceUIDs={exam.study_instance_uid}"
    settings.RIS_VIEWER_URL_TEMPLATE = ""
    assert selectors.viewer_url(exam) == ""
