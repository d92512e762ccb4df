"""The dose a modality reports in its MPPS (PS3.3 C.4.16 Radiation Dose) is kept with the exam's documentation."""

from decimal import Decimal
from io import BytesIO

import pytest
from django.utils import timezone
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from clinical.documentation import exam_complete_documented
from clinical.models import ExamDocumentation, Source
from ris.models import ContrastClass
from scheduling.models import Exam
from scheduling.services import exam_check_in
from tests.factories import TEST_ACTOR, ModalityFactory, ProcedureTypeFactory, make_exam_booked_today
from tests.worklist.conftest import performed_series
from worklist.services import mpps_create, mpps_update
from worklist.translate import parse_dose, parse_step_report


def on_the_wire(ds: Dataset) -> Dataset:
    """The dataset as the SCP receives it: encoded explicit VR little endian and read back."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    buffer.seek(0)
    return dcmread(buffer, force=True)


def ct_exposure(ctdivol: float) -> Dataset:
    item = Dataset()
    item.CTDIvol = ctdivol
    item.ExposureTime = "1500"
    return item


def ct_completed() -> Dataset:
    """A CT's N-SET COMPLETED as GE and Siemens scanners send it: CTDIvol per acquisition, the DLP in a comment."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    end = timezone.localtime()
    ds.PerformedProcedureStepEndDate = f"{end:%Y%m%d}"
    ds.PerformedProcedureStepEndTime = f"{end:%H%M%S}"
    ds.PerformedSeriesSequence = [performed_series(2)]
    ds.CTExposureSequence = [ct_exposure(4.12), ct_exposure(11.87)]
    ds.CommentsOnRadiationDose = "Event 1 DLP=42.1; Event 2 DLP=414.6; Total DLP: 456.7 mGy*cm"
    return ds


def test_ct_exposure_items_give_the_highest_ctdivol_and_the_comment_the_total_dlp():
    dose = parse_dose(on_the_wire(ct_completed()))
    assert (dose.ctdivol_mgy, dose.dlp_mgycm) == (Decimal("11.87"), Decimal("456.7"))


def test_the_area_dose_product_is_converted_from_dgy_cm2_and_fluoroscopy_is_in_seconds():
    ds = Dataset()
    ds.ImageAndFluoroscopyAreaDoseProduct = "325.5"  # dGy·cm² (PS3.3 C.4.16)
    ds.TotalTimeOfFluoroscopy = 184
    dose = parse_dose(on_the_wire(ds))
    assert (dose.dap_gycm2, dose.fluoroscopy_seconds) == (Decimal("32.550"), Decimal("184"))


@pytest.mark.parametrize(
    ("comment", "dlp"),
    [
        ("DLP=1234.5", Decimal("1234.5")),
        ("Total DLP (mGy-cm): 890", Decimal("890")),
        ("DLP 12,5 mGycm", Decimal("12.5")),
        ("DLP: 1.2 Gy*cm", Decimal("1200.0")),
        ("Scan aborted by operator", None),
        ("DLP=", None),
    ],
)
def test_dlp_comments_are_read_as_vendors_write_them(comment, dlp):
    ds = Dataset()
    ds.CommentsOnRadiationDose = comment
    assert parse_dose(on_the_wire(ds)).dlp_mgycm == dlp


def test_exposure_dose_items_add_up_when_the_step_has_no_total():
    ds = Dataset()
    first, second = Dataset(), Dataset()
    first.CommentsOnRadiationDose = "DLP=100.5"
    second.CommentsOnRadiationDose = "DLP=200"
    second.CTExposureSequence = [ct_exposure(8.0)]
    ds.ExposureDoseSequence = [first, second]
    dose = parse_dose(on_the_wire(ds))
    assert (dose.dlp_mgycm, dose.ctdivol_mgy) == (Decimal("300.5"), Decimal("8.0"))


def test_an_unreadable_dose_is_skipped_not_a_reason_to_refuse_the_step():
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.ImageAndFluoroscopyAreaDoseProduct = "99999"
    ds.CommentsOnRadiationDose = "dose report sent to PACS"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    broken = buffer.getvalue().replace(b"99999 ", b"n/a   ")  # what a modality with a bug sends
    assert b"n/a   " in broken
    report = parse_step_report(dcmread(BytesIO(broken), force=True), tz=timezone.get_current_timezone())
    assert report.status == "COMPLETED"
    assert not report.dose


def started_by_the_modality(modality: str = "CT") -> tuple[Exam, str]:
    procedure = ProcedureTypeFactory(modality=ModalityFactory(code=modality), contrast=ContrastClass.NONE)
    exam = exam_check_in(exam=make_exam_booked_today(procedure_types=[procedure]), acting_user=TEST_ACTOR)
    uid = generate_uid()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = "CT1"
    now = timezone.localtime()
    ds.PerformedProcedureStepStartDate = f"{now:%Y%m%d}"
    ds.PerformedProcedureStepStartTime = f"{now:%H%M%S}"
    item = Dataset()
    item.AccessionNumber = exam.accession_number
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    ds.ScheduledStepAttributesSequence = [item]
    report = parse_step_report(on_the_wire(ds), tz=timezone.get_current_timezone())
    mpps_create(sop_instance_uid=uid, report=report, attributes={}, calling_ae="CT1")
    return exam, uid


def completed(uid: str, ds: Dataset):
    report = parse_step_report(on_the_wire(ds), tz=timezone.get_current_timezone())
    return mpps_update(sop_instance_uid=uid, report=report, attributes={}, calling_ae="CT1")


@pytest.mark.django_db
def test_mpps_completed_stores_the_ct_dose_as_the_modalitys():
    exam, uid = started_by_the_modality()
    completed(uid, ct_completed())
    doc = ExamDocumentation.objects.get(exam=exam)
    assert (doc.ctdivol_mgy, doc.dlp_mgycm, doc.dose_source) == (Decimal("11.87"), Decimal("456.70"), Source.MODALITY)
    assert doc.documented_by == ""
    assert doc.history.get().history_actor == "DICOM:CT1"
    assert Exam.objects.get(pk=exam.pk).status == Exam.Status.COMPLETED


@pytest.mark.django_db
def test_mpps_dose_does_not_overwrite_what_the_technologist_entered():
    exam, uid = started_by_the_modality()
    exam_complete_documented(exam=exam, acting_user=TEST_ACTOR, ctdivol_mgy="10.5")
    completed(uid, ct_completed())  # the exam is completed already: the step is recorded, the dose kept
    doc = ExamDocumentation.objects.get(exam=exam)
    assert (doc.ctdivol_mgy, doc.dlp_mgycm, doc.dose_source) == (Decimal("10.50"), Decimal("456.70"), Source.STAFF)


@pytest.mark.django_db
def test_a_dose_of_another_modality_kind_is_not_stored():
    exam, uid = started_by_the_modality(modality="MR")
    completed(uid, ct_completed())
    assert not ExamDocumentation.objects.filter(exam=exam).exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_scanners_n_set_over_the_network_leaves_its_dose_with_the_exam(department, mwl_port):
    exam = department["exams"]["muller"]  # a CT head
    create = Dataset()
    create.PerformedProcedureStepStatus = "IN PROGRESS"
    create.PerformedStationAETitle = "CT1"
    now = timezone.localtime()
    create.PerformedProcedureStepStartDate = f"{now:%Y%m%d}"
    create.PerformedProcedureStepStartTime = f"{now:%H%M%S}"
    item = Dataset()
    item.AccessionNumber = exam.accession_number
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    create.ScheduledStepAttributesSequence = [item]
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", mwl_port, ae_title="RIS_MWL")
    assert assoc.is_established
    uid = generate_uid()
    try:
        created, _ = assoc.send_n_create(create, ModalityPerformedProcedureStep, uid)
        updated, _ = assoc.send_n_set(ct_completed(), ModalityPerformedProcedureStep, uid)
    finally:
        assoc.release()
    assert (created.Status, updated.Status) == (0x0000, 0x0000)
    doc = ExamDocumentation.objects.get(exam=exam)
    assert (doc.ctdivol_mgy, doc.dlp_mgycm, doc.dose_source) == (Decimal("11.87"), Decimal("456.70"), Source.MODALITY)
