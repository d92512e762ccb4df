"""Reads of the technologist's record (clinical.documentation): what the documentation form starts with, the
lines the report's Technique and the ORU carry, the exams the reading worklist marks with a contrast reaction."""

from decimal import Decimal

from clinical.models import ExamDocumentation, ExamProtocol, Source


def documentation_of(exam) -> ExamDocumentation | None:
    return ExamDocumentation.objects.filter(exam=exam).select_related("reaction_allergy").first()


def _amount(value: Decimal, places: int = 1) -> str:
    """A stored decimal as written by hand: 80.0 -> "80", 12.50 -> "12.5"."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def technique_lines(doc: ExamDocumentation | None) -> list[str]:
    """The technologist's record as lines of report text: the contrast given, any reaction, the dose."""
    if doc is None:
        return []
    lines = []
    if doc.contrast_given:
        given = [doc.contrast_agent, doc.contrast_route]
        if doc.contrast_volume_ml is not None:
            given.append(f"{_amount(doc.contrast_volume_ml)} mL")
        if doc.contrast_lot:
            given.append(f"lot {doc.contrast_lot}")
        lines.append("Contrast: " + ", ".join(part for part in given if part) + ".")
    elif doc.documented_by:
        lines.append("Contrast: none given.")
    if doc.reaction != ExamDocumentation.Reaction.NONE:
        lines.append(f"Contrast reaction: {doc.get_reaction_display().lower()}. {doc.reaction_notes}".rstrip())
    dose = []
    if doc.ctdivol_mgy is not None:
        dose.append(f"CTDIvol {_amount(doc.ctdivol_mgy, 2)} mGy")
    if doc.dlp_mgycm is not None:
        dose.append(f"DLP {_amount(doc.dlp_mgycm, 2)} mGy·cm")
    if doc.dap_gycm2 is not None:
        dose.append(f"DAP {_amount(doc.dap_gycm2, 4)} Gy·cm²")
    if doc.fluoroscopy_seconds is not None:
        dose.append(f"fluoroscopy time {_amount(doc.fluoroscopy_seconds)} s")
    if dose:
        source = " (reported by the modality)" if doc.dose_source == Source.MODALITY else ""
        lines.append(f"Radiation dose: {', '.join(dose)}{source}.")
    return lines


def contrast_reactions_among(exam_ids) -> dict[int, str]:
    """Exam ID -> reaction grade label, for those of `exam_ids` whose technologist recorded a contrast reaction."""
    rows = ExamDocumentation.objects.filter(exam_id__in=list(exam_ids)).exclude(
        reaction=ExamDocumentation.Reaction.NONE
    )
    return {
        exam_id: ExamDocumentation.Reaction(grade).label for exam_id, grade in rows.values_list("exam_id", "reaction")
    }


def documentation_initial(exam) -> dict:
    """What the documentation form starts with: the record so far (a dose the modality reported included), else the
    protocol's contrast agent and route. Whether contrast was given is left to the technologist to say."""
    doc = documentation_of(exam)
    initial: dict = {}
    if doc is not None:
        initial.update(
            {name: getattr(doc, name) for name in ("ctdivol_mgy", "dlp_mgycm", "dap_gycm2", "fluoroscopy_seconds")}
        )
    if doc is not None and doc.documented_by:
        initial.update(
            contrast_given="yes" if doc.contrast_given else "no",
            contrast_agent=doc.contrast_agent,
            contrast_route=doc.contrast_route,
            contrast_volume_ml=doc.contrast_volume_ml,
            contrast_lot=doc.contrast_lot,
            reaction=doc.reaction,
            reaction_notes=doc.reaction_notes,
        )
        return initial
    protocol = ExamProtocol.objects.filter(exam=exam).first()
    if protocol is not None:
        initial.update(contrast_agent=protocol.contrast_agent, contrast_route=protocol.contrast_route)
    return initial
