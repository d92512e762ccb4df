"""The technologist's record of an exam: contrast given, any adverse reaction, the radiation dose.

Recorded at completion (`exam_complete_documented`: the record and the completion in one transaction) and
correctable afterwards (`exam_document`; each save leaves a history row naming the actor). A reaction becomes an
allergy entry of the contrast's class (source REACTION) linked to the record; the radiologists see it on the reading
worklist and in the report editor (clinical.technique).

The dose may come from the modality's MPPS (`exam_dose_from_modality`, dose_source MODALITY): it fills the dose
values nobody has recorded and never overwrites one a technologist entered; a technologist's entry or correction
of a dose value makes the dose STAFF-sourced.
"""

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinical.models import Allergy, ExamDocumentation, Source
from clinical.safety import effective_contrast, uses_contrast
from clinical.services import allergy_add
from ris.audit import Actor, actor_label, attribute
from ris.exceptions import ApplicationError
from ris.models import ContrastClass
from scheduling.models import Exam
from scheduling.services import exam_complete
from scheduling.workflow import PERFORMED

Reaction = ExamDocumentation.Reaction

DOSE_FIELDS = ("ctdivol_mgy", "dlp_mgycm", "dap_gycm2", "fluoroscopy_seconds")
# The dose values each modality records: CT its dose indices, projection and fluoroscopy rooms the area dose
# product and the fluoroscopy time. Other modalities record no dose here.
DOSE_BY_MODALITY = {
    "CT": ("ctdivol_mgy", "dlp_mgycm"),
    "DX": ("dap_gycm2", "fluoroscopy_seconds"),
    "RF": ("dap_gycm2", "fluoroscopy_seconds"),
    "XA": ("dap_gycm2", "fluoroscopy_seconds"),
}
DOSE_LABELS = {
    "ctdivol_mgy": "CTDIvol",
    "dlp_mgycm": "DLP",
    "dap_gycm2": "DAP",
    "fluoroscopy_seconds": "Fluoroscopy time",
}
# Upper bounds that catch a slipped digit or a unit mix-up, not clinical limits (a CT perfusion study reaches a few
# hundred mGy CTDIvol, a long interventional case a few hundred Gy·cm² and an hour or two of fluoroscopy).
DOSE_LIMITS = {
    "ctdivol_mgy": Decimal(2000),
    "dlp_mgycm": Decimal(100000),
    "dap_gycm2": Decimal(10000),
    "fluoroscopy_seconds": Decimal(86400),
}
# Decimal places each value is stored with (ExamDocumentation's fields).
DOSE_PLACES = {
    "ctdivol_mgy": Decimal("0.01"),
    "dlp_mgycm": Decimal("0.01"),
    "dap_gycm2": Decimal("0.0001"),
    "fluoroscopy_seconds": Decimal("0.1"),
}
ALLERGY_SEVERITY = {
    Reaction.MILD: Allergy.Severity.MILD,
    Reaction.MODERATE: Allergy.Severity.MODERATE,
    Reaction.SEVERE: Allergy.Severity.SEVERE,
}
# Agents named without the protocol's class: iodinated ones end in -ol/-ide/-ate ("iohexol", "iopromide",
# "diatrizoate"), gadolinium-based ones start gado-.
_IODINATED = re.compile(r"\b(io\w+|diatrizo\w*|iothalam\w*|ioxagl\w*|omnipaque|visipaque|isovue|ultravist|optiray)")
_GADOLINIUM = re.compile(r"\b(gad\w+|dotarem|clariscan|gadavist|multihance|prohance|eovist|primovist|elucirem)")


def dose_fields(exam: Exam) -> tuple[str, ...]:
    """The dose values the exam's modality records (none for MR, US...)."""
    return DOSE_BY_MODALITY.get(exam.procedure_type.modality.code, ())


def _number(value, label: str, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"{label}: {value!r} is not a number.", field=field) from None
    if not number.is_finite():
        raise ApplicationError(f"{label}: {value!r} is not a number.", field=field)
    return number


def _dose(exam: Exam, values: dict) -> dict[str, Decimal | None]:
    """The dose values given, checked: only those the modality records, each from 0 up to its bound."""
    applies = dose_fields(exam)
    checked: dict[str, Decimal | None] = {}
    for name in DOSE_FIELDS:
        label = DOSE_LABELS[name]
        number = _number(values.get(name), label, name)
        if number is None:
            checked[name] = None
            continue
        if name not in applies:
            modality = exam.procedure_type.modality.code
            raise ApplicationError(f"{label} is not recorded for {modality} exams.", field=name)
        if number < 0:
            raise ApplicationError(f"{label} cannot be negative.", field=name)
        if number > DOSE_LIMITS[name]:
            raise ApplicationError(
                f"{label} of {number} is implausibly high: check the value and its unit.", field=name
            )
        checked[name] = number.quantize(DOSE_PLACES[name])
    return checked


def _contrast(exam: Exam, given: bool | None, agent: str, route: str, volume, lot: str) -> dict:
    """What was given, checked: a contrast exam must say whether it was given; when given, agent, route and a
    volume above 0 and within RIS_CONTRAST_VOLUME_MAX_ML. When not given, any prefilled agent is dropped."""
    if given is None:
        if uses_contrast(exam):
            raise ApplicationError(
                "This exam is planned with contrast: say whether contrast was given.", field="contrast_given"
            )
        given = False
    if not given:
        return {
            "contrast_given": False,
            "contrast_agent": "",
            "contrast_route": "",
            "contrast_volume_ml": None,
            "contrast_lot": "",
        }
    agent, route, lot = agent.strip(), route.strip(), lot.strip()
    if not agent:
        raise ApplicationError("Name the contrast agent given.", field="contrast_agent")
    if not route:
        raise ApplicationError("Give the route of the contrast (e.g. IV, oral).", field="contrast_route")
    volume = _number(volume, "Contrast volume", "contrast_volume_ml")
    if volume is None:
        raise ApplicationError("Give the contrast volume in mL.", field="contrast_volume_ml")
    if volume <= 0:
        raise ApplicationError("The contrast volume must be more than 0 mL.", field="contrast_volume_ml")
    limit = Decimal(str(settings.RIS_CONTRAST_VOLUME_MAX_ML))
    if volume > limit:
        raise ApplicationError(
            f"{volume} mL of contrast is more than the {limit.normalize():f} mL the RIS accepts: check the volume.",
            field="contrast_volume_ml",
        )
    return {
        "contrast_given": True,
        "contrast_agent": agent[:64],
        "contrast_route": route[:32],
        "contrast_volume_ml": volume.quantize(Decimal("0.1")),
        "contrast_lot": lot[:32],
    }


def _reaction(reaction: str, notes: str, contrast_given: bool) -> tuple[str, str]:
    reaction = reaction or Reaction.NONE
    if reaction not in Reaction.values:
        raise ApplicationError(
            f"{reaction!r} is not a reaction grade (none, mild, moderate, severe).", field="reaction"
        )
    notes = notes.strip()
    if reaction == Reaction.NONE:
        return reaction, notes
    if not contrast_given:
        raise ApplicationError(
            "A contrast reaction needs the contrast that was given: record it.", field="contrast_given"
        )
    if not notes:
        raise ApplicationError(
            "Describe the reaction and its treatment (required for a reaction).", field="reaction_notes"
        )
    return reaction, notes


def contrast_class_of(exam: Exam, agent: str) -> str:
    """The contrast class a reaction to `agent` is recorded under: the exam's planned class, else the agent's."""
    planned = effective_contrast(exam)
    if planned in (ContrastClass.IODINATED, ContrastClass.GADOLINIUM):
        return planned
    named = agent.lower()
    if _GADOLINIUM.search(named):
        return ContrastClass.GADOLINIUM
    if _IODINATED.search(named):
        return ContrastClass.IODINATED
    return ContrastClass.OTHER


def _reaction_allergy(doc: ExamDocumentation, exam: Exam, acting_user: Actor) -> None:
    """Make the allergy list follow the recorded reaction: a new reaction adds an entry (source REACTION), a
    corrected grade updates it, a reaction corrected to none makes it inactive."""
    allergy = doc.reaction_allergy
    if doc.reaction == Reaction.NONE:
        if allergy is not None and allergy.active:
            allergy.active = False
            attribute(allergy, acting_user, "reaction corrected to none")
            allergy.save()
        return
    severity = ALLERGY_SEVERITY[Reaction(doc.reaction)]
    if allergy is None:
        doc.reaction_allergy = allergy_add(
            patient=exam.order.patient,
            allergen_text=doc.contrast_agent,
            allergy_type=Allergy.Type.DRUG,
            contrast_class=contrast_class_of(exam, doc.contrast_agent),
            severity=severity,
            reaction=doc.reaction_notes[:255],
            identified_on=timezone.localdate(),
            source=Source.REACTION,
            acting_user=acting_user,
        )
        return
    changed = (allergy.severity, allergy.reaction[:255], allergy.active) != (severity, doc.reaction_notes[:255], True)
    if changed:
        allergy.severity, allergy.reaction, allergy.active = severity, doc.reaction_notes[:255], True
        attribute(allergy, acting_user, "reaction corrected")
        allergy.save()


@transaction.atomic
def exam_document(
    *,
    exam: Exam,
    acting_user: Actor,
    contrast_given: bool | None = None,
    contrast_agent: str = "",
    contrast_route: str = "",
    contrast_volume_ml=None,
    contrast_lot: str = "",
    reaction: str = Reaction.NONE,
    reaction_notes: str = "",
    ctdivol_mgy=None,
    dlp_mgycm=None,
    dap_gycm2=None,
    fluoroscopy_seconds=None,
) -> ExamDocumentation:
    """Record (or correct) the technologist's record of a performed exam. Dose values left empty keep what the
    modality reported; a value that differs from the stored one makes the dose the technologist's."""
    exam = Exam.objects.select_for_update().select_related("order__patient", "procedure_type__modality").get(pk=exam.pk)
    if exam.status not in PERFORMED:
        raise ApplicationError(
            f"Exam {exam.label} is {exam.get_status_display().lower()}: it is documented once performed."
        )
    contrast = _contrast(exam, contrast_given, contrast_agent, contrast_route, contrast_volume_ml, contrast_lot)
    reaction, reaction_notes = _reaction(reaction, reaction_notes, contrast["contrast_given"])
    dose = _dose(
        exam,
        {
            "ctdivol_mgy": ctdivol_mgy,
            "dlp_mgycm": dlp_mgycm,
            "dap_gycm2": dap_gycm2,
            "fluoroscopy_seconds": fluoroscopy_seconds,
        },
    )
    doc = ExamDocumentation.objects.select_for_update().filter(exam=exam).first()
    correcting = doc is not None and bool(doc.documented_by)
    if doc is None:
        doc = ExamDocumentation(exam=exam)
    for name, value in contrast.items():
        setattr(doc, name, value)
    doc.reaction, doc.reaction_notes = reaction, reaction_notes
    entered = False
    for name, value in dose.items():
        if value is None:
            continue  # left empty: what the modality reported (if anything) stays
        if getattr(doc, name) is None or Decimal(getattr(doc, name)) != value:
            setattr(doc, name, value)
            entered = True
    if entered:
        doc.dose_source = Source.STAFF
    doc.documented_by, doc.documented_at = actor_label(acting_user), timezone.now()
    _reaction_allergy(doc, exam, acting_user)
    attribute(doc, acting_user, "documentation corrected" if correcting else "documented at completion")
    doc.save()
    return doc


@transaction.atomic
def exam_complete_documented(*, exam: Exam, acting_user: Actor, **documentation) -> ExamDocumentation:
    """The technologist completes an exam with its record: both or neither (a refused record leaves the exam in
    progress). `documentation` takes exam_document's keywords."""
    exam_complete(exam=exam, acting_user=acting_user)
    return exam_document(exam=exam, acting_user=acting_user, **documentation)


@transaction.atomic
def exam_dose_from_modality(
    *,
    exam: Exam,
    acting_user: Actor,
    ctdivol_mgy: Decimal | None = None,
    dlp_mgycm: Decimal | None = None,
    dap_gycm2: Decimal | None = None,
    fluoroscopy_seconds: Decimal | None = None,
) -> ExamDocumentation | None:
    """Store the dose an MPPS reported (DICOM PS3.3 C.4.16): values of the modality's kinds that are plausible,
    each only where nothing is recorded yet. Returns the record, or None when nothing was stored."""
    exam = Exam.objects.select_related("order__patient", "procedure_type__modality").get(pk=exam.pk)
    applies = dose_fields(exam)
    reported = {
        "ctdivol_mgy": ctdivol_mgy,
        "dlp_mgycm": dlp_mgycm,
        "dap_gycm2": dap_gycm2,
        "fluoroscopy_seconds": fluoroscopy_seconds,
    }
    usable = {
        name: value
        for name, value in reported.items()
        if value is not None and name in applies and 0 <= value <= DOSE_LIMITS[name]
    }
    if not usable:
        return None
    doc = ExamDocumentation.objects.select_for_update().filter(exam=exam).first() or ExamDocumentation(exam=exam)
    filled = [name for name, value in usable.items() if getattr(doc, name) is None]
    if not filled:
        return doc
    for name in filled:
        setattr(doc, name, usable[name].quantize(DOSE_PLACES[name]))
    if not doc.dose_source:
        doc.dose_source = Source.MODALITY
    attribute(doc, acting_user, "dose reported by the modality")
    doc.save()
    return doc
