"""A report as lines of text, the same for the ORU^R01 sent out and the PDF: headed sections, then signed addenda."""

from django.utils import timezone

from reporting.models import SECTIONS, Addendum, Report

HEADINGS = {
    "clinical_information": "CLINICAL INFORMATION",
    "technique": "TECHNIQUE",
    "comparison": "COMPARISON",
    "findings": "FINDINGS",
    "impression": "IMPRESSION",
}


def section_lines(report: Report) -> list[str]:
    """Each non-empty section under its heading, a blank line between sections."""
    lines: list[str] = []
    for name in SECTIONS:
        text = getattr(report, name).strip()
        if not text:
            continue
        if lines:
            lines.append("")
        lines.append(f"{HEADINGS[name]}:")
        lines.extend(text.splitlines())
    return lines


def addendum_lines(addendum: Addendum) -> list[str]:
    when = timezone.localtime(addendum.signed_at) if addendum.signed_at else None
    signed = f" signed {when:%Y-%m-%d %H:%M}" if when else " (not signed)"
    signer = addendum.signer
    if signer is not None and signer.pk != addendum.author_id:  # a resident's addendum, co-signed by an attending
        signed = f", co-signed by {_person(signer)} {when:%Y-%m-%d %H:%M}"
    return [f"ADDENDUM by {_person(addendum.author)}{signed}:", *addendum.text.strip().splitlines()]


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


def report_lines(report: Report, addenda: list[Addendum] | None = None) -> list[str]:
    """The report's sections, then each signed addendum in order."""
    lines = section_lines(report)
    for addendum in addenda if addenda is not None else report.addenda.filter(signed_at__isnull=False):
        lines += ["", *addendum_lines(addendum)]
    return lines
