"""Writes of reports: claiming an exam for reading, drafts, preliminary and final signing, addenda, critical results.

A FINAL report and a signed addendum are refused here with a clear message and by the database (a trigger).
Signing final and each signed addendum record an outbox event: the HL7 interface sends ORU^R01 from it.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from clinical.technique import documentation_of, technique_lines
from reporting.macros import expand_macros, macro_tokens
from reporting.models import SECTIONS, Addendum, CriticalResult, ReadingClaim, Report, ReportTemplate
from reporting.selectors import claim_holder, claim_lapse, claims_live_since, macros_for, template_for
from reporting.text import HEADINGS as SECTION_HEADINGS
from ris.audit import attribute
from ris.exceptions import ApplicationError
from ris.services import outbox_add
from scheduling.models import Exam
from scheduling.services import exam_set_report_status

S = Exam.Status
READABLE = (S.COMPLETED, S.PRELIMINARY)  # exams whose report may still be written
FINAL_MESSAGE = "This report is final: it can only be amended by an addendum."


@transaction.atomic
def reading_claim(*, exam: Exam, user, now: datetime | None = None) -> ReadingClaim:
    """Claim an exam for reading (or keep one's claim alive); refused while another radiologist's claim is live."""
    now = now or timezone.now()
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    claim = ReadingClaim.objects.select_for_update().filter(exam=exam).first()
    if claim is not None and claim.user_id != user.pk and claim.last_activity >= claims_live_since(now):
        raise ApplicationError(
            f"{_name(claim.user)} is reading this exam; it is free again after {claim_lapse()} without work."
        )
    if claim is None:
        return ReadingClaim.objects.create(exam=exam, user=user, last_activity=now)
    claim.user, claim.last_activity = user, now
    claim.save(update_fields=["user", "last_activity", "updated_at"])
    return claim


def reading_release(*, exam: Exam, user) -> None:
    ReadingClaim.objects.filter(exam=exam, user=user).delete()


def reading_claims_release_lapsed(*, now: datetime | None = None) -> int:
    """Delete the reading claims that lapsed (they no longer hold their exam); celery beat runs this."""
    deleted, _ = ReadingClaim.objects.filter(last_activity__lt=claims_live_since(now)).delete()
    return deleted


def _locked_report(report: Report) -> Report:
    report = Report.objects.select_for_update().select_related("exam__order").get(pk=report.pk)
    if report.is_final:
        raise ApplicationError(FINAL_MESSAGE)
    return report


class ReportConflict(ApplicationError):
    """A save based on a revision older than the stored one: someone (another tab or workstation) saved meanwhile.

    Carries the stored revision and sections, so that the caller can show both texts and let the user keep either.
    """

    def __init__(self, report: Report | None):
        super().__init__(
            "The report was changed elsewhere (another tab or workstation) since this text was loaded: "
            "nothing was saved or signed. Keep your text or the saved one."
        )
        self.revision = report.revision if report is not None else 0
        self.sections = report.sections() if report is not None else dict.fromkeys(SECTIONS, "")


def _check_based_on(report: Report | None, based_on: int) -> None:
    """A save names the revision it started from (0: no report yet); any other revision stored means a conflict."""
    if based_on != (report.revision if report is not None else 0):
        raise ReportConflict(report)


def clinical_information_for(exam: Exam, template: ReportTemplate | None = None) -> str:
    """A new report's clinical information: the order's reason for exam, then the template's text, if any."""
    parts = (exam.order.reason.strip(), (template.clinical_information if template else "").strip())
    return "\n".join(part for part in parts if part)


def technique_for(exam: Exam, template: ReportTemplate | None = None) -> str:
    """A new report's technique: the template's text, then the technologist's record (contrast given, any reaction,
    the radiation dose: clinical.documentation)."""
    parts = ((template.technique if template else "").strip(), "\n".join(technique_lines(documentation_of(exam))))
    return "\n".join(part for part in parts if part)


def _macro_refusal(report: Report, sections: tuple[str, ...] = SECTIONS) -> str:
    """Why the report's text cannot be signed as it is (a `.name` token left in it), or ""."""
    found = {name: macro_tokens(getattr(report, name)) for name in sections}
    found = {name: tokens for name, tokens in found.items() if tokens}
    if not found:
        return ""
    where = "; ".join(
        f"{SECTION_HEADINGS[name].capitalize()} {', '.join('.' + t for t in tokens)}" for name, tokens in found.items()
    )
    return (
        f"Not signed: the report still has macros that are not expanded ({where}). Expand them or write the text out."
    )


@transaction.atomic
def report_save_draft(
    *,
    exam: Exam,
    user,
    sections: dict[str, str],
    template: ReportTemplate | None = None,
    based_on: int = 0,
) -> Report:
    """Create or update the exam's draft (the editor autosaves through this); the author must hold the claim.

    `based_on` is the revision the text was loaded from (0: no report yet, the default, so that a caller that does
    not say can create a report but never overwrite one); a stale one raises ReportConflict. Tokens of the user's
    macros still in the text (`.normal`) are expanded; unknown ones are kept as typed (signing refuses them).
    """
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ApplicationError(f"Unknown report sections: {', '.join(sorted(unknown))}.")
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    report = Report.objects.select_for_update().filter(exam=exam).first()
    if report is not None and report.is_final:
        raise ApplicationError(FINAL_MESSAGE)
    if exam.status not in READABLE:
        raise ApplicationError(f"Exam {exam.label} is {exam.get_status_display().lower()}: no report.")
    reading_claim(exam=exam, user=user)
    _check_based_on(report, based_on)
    if report is None:
        report = Report(exam=exam, author=user, template=template or template_for(exam))
        if "clinical_information" not in sections:  # the order's reason, unless the caller wrote this section
            report.clinical_information = clinical_information_for(exam)
        if "technique" not in sections:  # the technologist's record, unless the caller wrote this section
            report.technique = technique_for(exam)
    if template is not None:
        report.template = template
    macros = macros_for(user)
    for name, value in sections.items():
        setattr(report, name, expand_macros(value.replace("\r\n", "\n"), macros))
    report.revision += 1
    attribute(report, user, "draft saved")
    report.save()
    return report


@transaction.atomic
def report_restore_version(*, report: Report, user, version_id: int) -> Report:
    """Put the text of an earlier version back (as a new revision, with its own history row); not once final."""
    report = _locked_report(report)
    reading_claim(exam=report.exam, user=user)
    version = report.history.filter(history_id=version_id).first()
    if version is None:
        raise ApplicationError("There is no such version of this report.")
    for name in SECTIONS:
        setattr(report, name, getattr(version, name))
    report.revision += 1
    when = timezone.localtime(version.history_date)
    attribute(report, user, f"restored the version of {when:%Y-%m-%d %H:%M:%S}")
    report.save()
    return report


def _check_signable(report: Report, *, refusal_if_empty: str) -> None:
    """What is signed has an impression and no `.name` token left (an unknown macro would go out as typed)."""
    refusal = _macro_refusal(report)
    if refusal:
        raise ApplicationError(refusal)
    if not report.impression.strip():
        raise ApplicationError(refusal_if_empty, field="impression")


def _check_revision(report: Report, revision: int | None) -> None:
    """A signature names the revision on the signer's screen when it says which (the editor does)."""
    if revision is not None and revision != report.revision:
        raise ReportConflict(report)


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _check_password(user, password: str) -> None:
    if not password or not user.check_password(password):
        raise ApplicationError("The password is not right; the report was not signed.", field="password")


def _check_attending(user, password: str, *, refusal: str) -> None:
    """Signing final or an addendum: an attending radiologist (reporting.sign_final) who confirms the password."""
    if not user.has_perm("reporting.sign_final"):
        raise ApplicationError(refusal)
    _check_password(user, password)


def _check_not_held_by_another(exam: Exam, user) -> None:
    """A colleague's live claim keeps others from signing what is on their own screen."""
    holder = claim_holder(exam)
    if holder is not None and holder != user:
        raise ApplicationError(f"{_name(holder)} is reading this exam: the report was not signed.")


@transaction.atomic
def report_sign_preliminary(*, report: Report, user, revision: int | None = None) -> Report:
    """A resident (or any radiologist) saves the report PRELIMINARY: visible, not yet the legal record."""
    report = _locked_report(report)
    _check_not_held_by_another(report.exam, user)
    _check_revision(report, revision)
    _check_signable(report, refusal_if_empty="Write an impression before saving the report preliminary.")
    report.status, report.preliminary_by, report.preliminary_at = Report.Status.PRELIMINARY, user, timezone.now()
    attribute(report, user, "preliminary")
    report.save()
    exam_set_report_status(exam=report.exam, status=S.PRELIMINARY, acting_user=user)
    reading_release(exam=report.exam, user=user)  # the attending who signs it final takes it from here
    return report


@transaction.atomic
def report_sign_final(*, report: Report, user, password: str, revision: int | None = None) -> Report:
    """An attending radiologist signs FINAL after confirming the password; the HL7 interface sends ORU^R01."""
    _check_attending(
        user, password, refusal="Only an attending radiologist can sign a report final; save it preliminary."
    )
    report = _locked_report(report)
    _check_not_held_by_another(report.exam, user)
    _check_revision(report, revision)
    _check_signable(report, refusal_if_empty="A final report needs an impression.")
    now = timezone.now()
    report.status, report.signed_by, report.signed_at = Report.Status.FINAL, user, now
    attribute(report, user, "signed final")
    report.save()
    exam_set_report_status(exam=report.exam, status=S.FINAL, acting_user=user)
    reading_release(exam=report.exam, user=user)
    outbox_add(
        kind="report.final",
        acting_user=user,
        report_id=report.pk,
        exam_id=report.exam_id,
        signed_by_id=user.pk,
        accession_number=report.exam.accession_number,
        at=now.isoformat(),
    )
    return report


@transaction.atomic
def addendum_save(*, report: Report, user, text: str, addendum: Addendum | None = None) -> Addendum:
    """Write (or rewrite, until signed) an addendum to a FINAL report."""
    report = Report.objects.select_for_update().get(pk=report.pk)
    if not report.is_final:
        raise ApplicationError("Only a final report takes addenda; edit the report itself.")
    if not text.strip():
        raise ApplicationError("The addendum is empty.", field="text")
    if addendum is None:
        addendum = Addendum(report=report, author=user)
    else:
        addendum = Addendum.objects.select_for_update().get(pk=addendum.pk, report=report)
    if addendum.signed_at is not None:
        raise ApplicationError("This addendum is signed: write another.")
    addendum.text = expand_macros(text.replace("\r\n", "\n"), macros_for(user))
    attribute(addendum, user, "addendum saved")
    addendum.save()
    return addendum


@transaction.atomic
def addendum_sign(*, addendum: Addendum, user, password: str) -> Addendum:
    """Sign an addendum (password confirmed): the exam becomes AMENDED and the interface sends ORU^R01 (C).

    An attending signs their own addendum; a resident's addendum (its author cannot sign) is co-signed by an
    attending, and both are recorded (author, signed_by) and named in the ORU and the PDF. Nobody signs an
    attending colleague's addendum in their name (page or API).
    """
    _check_attending(user, password, refusal="Only an attending radiologist can sign an addendum.")
    addendum = Addendum.objects.select_for_update().select_related("report__exam__order", "author").get(pk=addendum.pk)
    if addendum.signed_at is not None:
        raise ApplicationError("This addendum is signed already.")
    if addendum.author_id != user.pk and addendum.author.has_perm("reporting.sign_final"):
        raise ApplicationError("Only the author of an addendum can sign it: write your own addendum.")
    tokens = macro_tokens(addendum.text)
    if tokens:
        names = ", ".join(f".{token}" for token in tokens)
        raise ApplicationError(f"The addendum still has macros that are not expanded: {names}. Write the text out.")
    now = timezone.now()
    addendum.signed_at, addendum.signed_by = now, user
    attribute(addendum, user, "addendum signed")
    addendum.save()
    exam_set_report_status(exam=addendum.report.exam, status=S.AMENDED, acting_user=user)
    outbox_add(
        kind="report.addendum",
        acting_user=user,
        report_id=addendum.report_id,
        addendum_id=addendum.pk,
        signed_by_id=user.pk,
        exam_id=addendum.report.exam_id,
        accession_number=addendum.report.exam.accession_number,
        at=now.isoformat(),
    )
    return addendum


@transaction.atomic
def critical_flag(*, report: Report, user, category: str, description: str) -> CriticalResult:
    """Flag a critical finding; it stays on the open list until it is closed."""
    if category not in CriticalResult.Category.values:
        raise ApplicationError("Choose a category of critical result.", field="category")
    if not description.strip():
        raise ApplicationError("Say what the critical finding is.", field="description")
    critical = CriticalResult(report=report, category=category, description=description.strip(), flagged_by=user)
    attribute(critical, user, "flagged")
    critical.save()
    return critical


@transaction.atomic
def critical_notify(*, critical: CriticalResult, user, person: str, method: str, at: datetime | None = None):
    """Record who was told, how and when."""
    critical = CriticalResult.objects.select_for_update().get(pk=critical.pk)
    if not person.strip():
        raise ApplicationError("Name the person who was notified.", field="notified_person")
    if method not in CriticalResult.Method.values:
        raise ApplicationError("Choose how they were notified.", field="notification_method")
    at = at or timezone.now()
    if at > timezone.now() + timedelta(minutes=5):
        raise ApplicationError("The notification time is in the future.", field="notified_at")
    critical.notified_person, critical.notification_method, critical.notified_at = person.strip(), method, at
    attribute(critical, user, "notified")
    critical.save()
    return critical


@transaction.atomic
def critical_close(*, critical: CriticalResult, user) -> CriticalResult:
    """Close a critical result once its communication is recorded."""
    critical = CriticalResult.objects.select_for_update().get(pk=critical.pk)
    if critical.notified_at is None:
        raise ApplicationError("Record who was notified before closing the critical result.")
    critical.closed_at, critical.closed_by = timezone.now(), user
    attribute(critical, user, "closed")
    critical.save()
    return critical
