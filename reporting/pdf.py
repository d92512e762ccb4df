"""The PDF of a final report: letterhead, patient, exam, the report text (the same lines as the ORU^R01), signature.

Text is set in DejaVu Sans (Debian's fonts-dejavu-core) so that accented and non-Latin names print; characters the
font lacks (Chinese, Japanese) are set in a standard CJK font that PDF viewers supply (HeiseiKakuGo-W5).
"""

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import HRFlowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from reporting.models import Report
from reporting.text import HEADINGS, report_lines

logger = logging.getLogger(__name__)

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
CJK_FONT = "HeiseiKakuGo-W5"  # one of the Adobe CJK fonts every PDF viewer provides; no file needed
SECTION_HEADINGS = frozenset(f"{heading}:" for heading in HEADINGS.values())
MARGIN = 18 * mm


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    has_glyph: Callable[[str], bool]


def _latin1(char: str) -> bool:
    try:
        char.encode("cp1252")  # Helvetica's WinAnsiEncoding
    except UnicodeEncodeError:
        return False
    return True


@cache
def fonts() -> Fonts:
    """Register DejaVu Sans once; without it, Helvetica (accents of Western Europe only) and a log line."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    try:
        pdfmetrics.registerFont(TTFont("DejaVuSans", f"{FONT_DIR}/DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", f"{FONT_DIR}/DejaVuSans-Bold.ttf"))
    except TTFError:
        logger.warning("DejaVu Sans not found in %s (install fonts-dejavu-core): report PDFs use Helvetica", FONT_DIR)
        return Fonts("Helvetica", "Helvetica-Bold", _latin1)
    glyphs = pdfmetrics.getFont("DejaVuSans").face.charToGlyph
    return Fonts("DejaVuSans", "DejaVuSans-Bold", lambda char: ord(char) in glyphs)


def markup(text: str) -> str:
    """Paragraph markup of plain text: escaped, leading spaces kept, runs the main font lacks set in the CJK font."""
    has_glyph = fonts().has_glyph
    stripped = text.lstrip(" ")
    out = ["&nbsp;" * (len(text) - len(stripped))]
    for run in re.findall(r"\s+|\S+", stripped.replace("\t", "    ")):
        if run.isspace() or all(has_glyph(char) for char in run):
            out.append(escape(run))
            continue
        for char in run:
            escaped = escape(char)
            out.append(escaped if has_glyph(char) else f'<font name="{CJK_FONT}">{escaped}</font>')
    return "".join(out)


def one_line(text: str) -> str:
    """The text on one line: line breaks and other control characters (a value stored before identifiers were
    validated, or sent that way) become spaces, for the footer, the document title and a file name."""
    return " ".join("".join(char if char.isprintable() else " " for char in text).split())


def report_filename(accession: str) -> str:
    """The download's file name: letters, digits, dot and dash of the accession only (a header value cannot
    hold a line break, and a quote or slash would change the name)."""
    return f"report-{re.sub(r'[^A-Za-z0-9.-]', '_', one_line(accession)) or 'unnumbered'}.pdf"


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = fonts().regular, fonts().bold
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13.5)
    return {
        "letterhead": ParagraphStyle("letterhead", fontName=bold, fontSize=14, leading=18),
        "letterhead_line": ParagraphStyle("letterhead_line", fontName=regular, fontSize=9, leading=11.5),
        "title": ParagraphStyle("title", fontName=bold, fontSize=12, leading=16, spaceBefore=6, spaceAfter=6),
        "label": ParagraphStyle("label", fontName=bold, fontSize=8.5, leading=11, textColor=colors.HexColor("#555")),
        "fact": ParagraphStyle("fact", fontName=regular, fontSize=9.5, leading=12),
        "body": body,
        "heading": ParagraphStyle("heading", parent=body, fontName=bold, spaceBefore=2),
        "signature": ParagraphStyle("signature", parent=body, spaceBefore=10),
    }


def _when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(moment).strftime(fmt) if moment else "—"


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _facts(report: Report, styles: dict[str, ParagraphStyle]) -> Table:
    """Patient on the left, exam on the right: label and value pairs."""
    exam = report.exam
    order, patient = exam.order, exam.order.patient
    birth = patient.birth_date.isoformat() if patient.birth_date else "—"
    left = [
        ("Patient", patient.display_name),
        ("MRN", patient.mrn),
        ("Birth date", birth),
        ("Sex", patient.get_sex_display()),
        ("Referring physician", str(order.referring_physician) if order.referring_physician else "—"),
    ]
    modality = exam.procedure_type.modality
    right = [
        ("Accession number", exam.accession_number),
        ("Procedure", exam.procedure_type.name),
        ("Modality", f"{modality.name} ({modality.code})"),
        ("Date performed", _when(exam.completed_at)),
        ("", ""),
    ]
    rows = [
        [
            Paragraph(markup(label_left), styles["label"]),
            Paragraph(markup(value_left), styles["fact"]),
            Paragraph(markup(label_right), styles["label"]),
            Paragraph(markup(value_right), styles["fact"]),
        ]
        for (label_left, value_left), (label_right, value_right) in zip(left, right, strict=True)
    ]
    width = LETTER[0] - 2 * MARGIN
    table = Table(rows, colWidths=[0.17 * width, 0.33 * width, 0.17 * width, 0.33 * width])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (-1, -1), 0.5, colors.HexColor("#999")),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def report_pdf(report: Report) -> bytes:
    """The PDF of a FINAL report with its signed addenda; raises ValueError for a report that is not final."""
    if not report.is_final:
        raise ValueError(f"report {report.pk} is {report.status}: only a final report is printed")
    styles = _styles()
    accession = one_line(report.exam.accession_number)
    addenda = list(report.addenda.filter(signed_at__isnull=False).select_related("author", "signed_by"))

    letterhead = [line.strip() for line in settings.RIS_REPORT_LETTERHEAD.splitlines() if line.strip()]
    story = [Paragraph(markup(letterhead[0] if letterhead else "Radiology"), styles["letterhead"])]
    story += [Paragraph(markup(line), styles["letterhead_line"]) for line in letterhead[1:]]
    story.append(HRFlowable(width="100%", thickness=0.8, color=colors.black, spaceBefore=4, spaceAfter=4))
    title = "RADIOLOGY REPORT — FINAL" + (", AMENDED BY ADDENDUM" if addenda else "")
    story += [Paragraph(title, styles["title"]), _facts(report, styles), Spacer(1, 5 * mm)]

    for line in report_lines(report, addenda):
        if not line.strip():
            story.append(Spacer(1, 2.5 * mm))
        elif line in SECTION_HEADINGS or (line.startswith("ADDENDUM by ") and line.endswith(":")):
            story.append(Paragraph(markup(line), styles["heading"]))
        else:
            story.append(Paragraph(markup(line), styles["body"]))

    signer = _name(report.signed_by) + (f", {report.signed_by.title}" if report.signed_by.title else "")
    signature = f"Electronically signed by {markup(signer)} on {_when(report.signed_at)}"
    story.append(HRFlowable(width="100%", thickness=0.5, color=colors.HexColor("#999"), spaceBefore=8))
    story.append(Paragraph(signature, styles["signature"]))

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(fonts().regular, 8)
        canvas.drawString(MARGIN, 10 * mm, f"Accession {accession}")
        canvas.drawRightString(LETTER[0] - MARGIN, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"Radiology report {accession}",
        author=letterhead[0] if letterhead else "",
        creator="RIS",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
