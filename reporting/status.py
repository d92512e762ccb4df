"""What roles other than the radiologist may know of a report: its status and whether its PDF exists, never its text."""

from collections.abc import Iterable
from typing import NamedTuple

from reporting.models import Report
from scheduling.models import Exam


class ReportStatus(NamedTuple):
    status: str  # a Report.Status value, or "" while no report is written
    has_pdf: bool

    @property
    def label(self) -> str:
        return Report.Status(self.status).label if self.status else "Not reported yet"


def report_status_for(exams: Iterable[Exam]) -> dict[int, ReportStatus]:
    """The report status of each exam (one query), keyed by exam id; only a FINAL report has a PDF."""
    exam_ids = [exam.pk for exam in exams]
    found = dict(Report.objects.filter(exam_id__in=exam_ids).values_list("exam_id", "status"))
    return {
        exam_id: ReportStatus(found.get(exam_id, ""), found.get(exam_id) == Report.Status.FINAL) for exam_id in exam_ids
    }


def final_report_of(exam: Exam) -> Report | None:
    """The exam's report if it is FINAL (amended by addenda or not), with what its PDF prints; else None."""
    return (
        Report.objects.select_related(
            "signed_by",
            "exam__order__patient",
            "exam__order__referring_physician",
            "exam__procedure_type__modality",
        )
        .filter(exam=exam, status=Report.Status.FINAL)
        .first()
    )
