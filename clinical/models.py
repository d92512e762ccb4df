"""What keeps a patient safe in the department: allergies, alerts, measurements and lab results, pregnancy status,
MR-relevant implants (per patient); protocols, safety flags, MR screening and the technologist's record (per exam).

Every row names its source (the CIS over HL7, staff, a computation, a technologist's reaction record) and keeps
history; writes go through clinical.services.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ris.audit import audited_history
from ris.models import ContrastClass, Modality, Patient, ProcedureType
from ris.models.base import TimeStamped
from scheduling.models import Exam


class Source(models.TextChoices):
    CIS = "CIS", "Clinical information system (HL7)"
    STAFF = "STAFF", "Entered by staff"
    REACTION = "REACTION", "Reaction recorded in the department"
    COMPUTED = "COMPUTED", "Computed by the RIS"
    MODALITY = "MODALITY", "Reported by the modality (MPPS)"


# --- Per patient ----------------------------------------------------------------------------------------------------


class ClinicalStatus(TimeStamped):
    """Per patient, what was asked: "no known allergies" is an answer, different from never having asked."""

    class Allergies(models.TextChoices):
        NOT_ASKED = "", "Not asked"
        NONE_KNOWN = "NKA", "No known allergies"
        LISTED = "LISTED", "Allergies listed"

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="clinical_status")
    allergies = models.CharField(max_length=6, choices=Allergies.choices, blank=True, default=Allergies.NOT_ASKED)
    allergies_source = models.CharField(max_length=8, choices=Source.choices, blank=True)

    history = audited_history()

    def __str__(self) -> str:
        return self.get_allergies_display()


class Allergy(TimeStamped):
    """An allergy or intolerance (HL7 AL1; FHIR AllergyIntolerance)."""

    class Type(models.TextChoices):
        # HL7 table 0127 Allergen Type.
        DRUG = "DA", "Drug allergy"
        FOOD = "FA", "Food allergy"
        MISC = "MA", "Miscellaneous allergy"
        CONTRAINDICATION = "MC", "Miscellaneous contraindication"
        ENVIRONMENTAL = "EA", "Environmental allergy"
        ANIMAL = "AA", "Animal allergy"
        PLANT = "PA", "Plant allergy"
        POLLEN = "LA", "Pollen allergy"

    class Severity(models.TextChoices):
        # HL7 table 0128 Allergy Severity.
        SEVERE = "SV", "Severe"
        MODERATE = "MO", "Moderate"
        MILD = "MI", "Mild"
        UNKNOWN = "U", "Unknown"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="allergies")
    allergen_code = models.CharField(max_length=64, blank=True, help_text="AL1-3.1")
    allergen_coding_system = models.CharField(max_length=64, blank=True, help_text="AL1-3.3, e.g. RXNORM, 99LOCAL")
    allergen_text = models.CharField(max_length=255, help_text="AL1-3.2, or the code when no text was sent")
    allergy_type = models.CharField(max_length=2, choices=Type.choices, default=Type.DRUG)
    contrast_class = models.CharField(
        max_length=10,
        choices=ContrastClass.choices,
        blank=True,
        default=ContrastClass.NONE,
        help_text="Contrast media are their own class: the contrast rule reads it",
    )
    severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.UNKNOWN)
    reaction = models.CharField(max_length=255, blank=True, help_text="AL1-5, e.g. hives, anaphylaxis")
    identified_on = models.DateField(null=True, blank=True, help_text="AL1-6")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF)
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["-active", "allergen_text", "id"]
        verbose_name_plural = "allergies"
        indexes = [models.Index(fields=["patient", "active"])]

    def __str__(self) -> str:
        return self.allergen_text


class MedicalAlert(TimeStamped):
    """A medical alert (DICOM Medical Alerts 0010,2000; the worklist and the banner show it)."""

    class Code(models.TextChoices):
        DIABETES_METFORMIN = "DIABETES_METFORMIN", "Diabetes on metformin"
        DIABETES = "DIABETES", "Diabetes"
        RENAL_DISEASE = "RENAL_DISEASE", "Renal disease"
        SICKLE_CELL = "SICKLE_CELL", "Sickle cell disease"
        ISOLATION = "ISOLATION", "Isolation precautions"
        FALL_RISK = "FALL_RISK", "Fall risk"
        INTERPRETER = "INTERPRETER", "Interpreter needed"
        OTHER = "OTHER", "Other"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medical_alerts")
    code = models.CharField(max_length=20, choices=Code.choices, default=Code.OTHER)
    text = models.CharField(max_length=255, blank=True, help_text="Free text; required for Other")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF)
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["-active", "code", "id"]

    def __str__(self) -> str:
        label = self.get_code_display()
        return f"{label}: {self.text}" if self.text and self.code != self.Code.OTHER else (self.text or label)


# Codes of alerts that make an eGFR required before contrast.
RENAL_RISK_ALERTS = frozenset(
    {MedicalAlert.Code.DIABETES_METFORMIN, MedicalAlert.Code.DIABETES, MedicalAlert.Code.RENAL_DISEASE}
)


class Observation(models.Model):
    """A measurement or lab result (HL7 OBX; FHIR Observation): eGFR, creatinine, weight, height, or anything else
    a sender sent, stored as received. Values of known kinds are kept in one unit each (see `UNITS`)."""

    class Kind(models.TextChoices):
        EGFR = "EGFR", "eGFR"
        CREATININE = "CREATININE", "Serum creatinine"
        WEIGHT = "WEIGHT", "Body weight"
        HEIGHT = "HEIGHT", "Body height"
        OTHER = "OTHER", "Other"

    UNITS = {"EGFR": "mL/min/1.73m2", "CREATININE": "mg/dL", "WEIGHT": "kg", "HEIGHT": "cm"}

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="observations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    code = models.CharField(max_length=64, blank=True, help_text="OBX-3.1, e.g. LOINC 33914-3")
    coding_system = models.CharField(max_length=32, blank=True, help_text="OBX-3.3, e.g. LN")
    name = models.CharField(max_length=255, blank=True, help_text="OBX-3.2 as sent")
    value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    value_text = models.CharField(max_length=1024, blank=True, help_text="OBX-5 as received (any value type)")
    unit_received = models.CharField(max_length=64, blank=True, help_text="OBX-6 as received")
    abnormal_flags = models.CharField(max_length=16, blank=True, help_text="OBX-8")
    result_status = models.CharField(max_length=1, blank=True, help_text="OBX-11: F final, C corrected, P ...")
    observed_at = models.DateTimeField(help_text="OBX-14 (else OBR-7), or when measured")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF)
    computed = models.BooleanField(default=False, help_text="eGFR computed from creatinine (CKD-EPI 2021)")
    derived_from = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="derived", help_text="Computed from"
    )
    message_control_id = models.CharField(max_length=64, blank=True, help_text="MSH-10 of the message it came in")
    created_at = models.DateTimeField(auto_now_add=True)

    history = audited_history()

    class Meta:
        ordering = ["-observed_at", "-id"]
        indexes = [models.Index(fields=["patient", "kind", "observed_at"])]

    def __str__(self) -> str:
        shown = f"{self.value.normalize():f}" if self.value is not None else self.value_text
        return f"{self.get_kind_display() if self.kind != 'OTHER' else self.name} {shown} {self.unit}".strip()


class PregnancyStatus(models.IntegerChoices):
    # DICOM Pregnancy Status (0010,21C0), US.
    NOT_PREGNANT = 1, "Not pregnant"
    POSSIBLY = 2, "Possibly pregnant"
    DEFINITELY = 3, "Definitely pregnant"
    UNKNOWN = 4, "Unknown"


class PregnancyRecord(models.Model):
    """A pregnancy status as asked or tested at one moment (the newest counts), with who recorded it."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="pregnancy_records")
    status = models.PositiveSmallIntegerField(choices=PregnancyStatus.choices)
    last_menstrual_period = models.DateField(null=True, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=150, help_text="The user or interface that recorded it")
    exam = models.ForeignKey(Exam, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.CharField(max_length=255, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["patient", "recorded_at"])]

    def __str__(self) -> str:
        return self.get_status_display()


class MRSafety(models.TextChoices):
    # ASTM F2503 marking.
    SAFE = "MR_SAFE", "MR Safe"
    CONDITIONAL = "MR_CONDITIONAL", "MR Conditional"
    UNSAFE = "MR_UNSAFE", "MR Unsafe"
    UNKNOWN = "UNKNOWN", "Not known"


class Implant(TimeStamped):
    """An implant or device relevant to MR, marked per ASTM F2503."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="implants")
    device_type = models.CharField(max_length=128, help_text="e.g. pacemaker, cochlear implant, aneurysm clip")
    make_model = models.CharField("make and model", max_length=255, blank=True)
    mr_safety = models.CharField("MR safety", max_length=14, choices=MRSafety.choices, default=MRSafety.UNKNOWN)
    conditions = models.TextField(blank=True, help_text="The MR Conditional labelling: field strength, SAR, ...")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STAFF)
    active = models.BooleanField(default=True, help_text="Still in the patient")

    history = audited_history()

    class Meta:
        ordering = ["-active", "device_type", "id"]

    def __str__(self) -> str:
        return f"{self.device_type} ({self.get_mr_safety_display()})"


# --- Per exam -------------------------------------------------------------------------------------------------------


class Protocol(TimeStamped):
    """A protocol of the department's catalog: how an exam is performed (DICOM Scheduled Protocol Code Sequence)."""

    code = models.CharField(max_length=16, unique=True, help_text="Code value (0008,0100)")
    name = models.CharField(max_length=64, help_text="Code meaning (0008,0104)")
    modality = models.ForeignKey(Modality, on_delete=models.PROTECT, related_name="protocols")
    procedure_types = models.ManyToManyField(
        ProcedureType, blank=True, related_name="protocols", help_text="Offered for these procedures (none: all)"
    )
    contrast = models.CharField(max_length=10, choices=ContrastClass.choices, blank=True, default=ContrastClass.NONE)
    contrast_agent = models.CharField(max_length=64, blank=True, help_text="e.g. iohexol 350 mgI/mL")
    contrast_route = models.CharField(max_length=32, blank=True, help_text="e.g. IV, oral")
    technologist_notes = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    history = audited_history()

    class Meta:
        ordering = ["modality", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ExamProtocol(TimeStamped):
    """The protocol a radiologist chose for one exam (its contrast overrides the procedure's)."""

    exam = models.OneToOneField(Exam, on_delete=models.CASCADE, related_name="protocol")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    contrast = models.CharField(max_length=10, choices=ContrastClass.choices, blank=True, default=ContrastClass.NONE)
    contrast_agent = models.CharField(max_length=64, blank=True)
    contrast_route = models.CharField(max_length=32, blank=True)
    notes = models.TextField(blank=True, help_text="The radiologist's notes for the technologist")
    protocoled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    protocoled_at = models.DateTimeField()

    history = audited_history()

    def __str__(self) -> str:
        return str(self.protocol) if self.protocol else "custom protocol"


class SafetyFlag(TimeStamped):
    """A safety finding on an exam that was decided, or that an exam was started with while it was open.

    Findings themselves are computed (clinical.safety) from the data at the moment: a finding is open while no
    flag with its exam, kind and key carries a decision. The key names the evidence (an eGFR result, an allergy,
    a screening), so new evidence needs a new decision.
    """

    class Kind(models.TextChoices):
        CONTRAST_REACTION = "CONTRAST_REACTION", "Prior contrast reaction"
        EGFR_LOW = "EGFR_LOW", "Low eGFR"
        EGFR_MISSING = "EGFR_MISSING", "No recent eGFR"
        PREGNANCY_STATUS_MISSING = "PREGNANCY_MISSING", "Pregnancy status not recorded"
        PREGNANCY = "PREGNANCY", "Possibly or definitely pregnant"
        MR_SCREENING_MISSING = "MR_SCREENING_MISSING", "MR screening not done"
        MR_CLEARANCE = "MR_CLEARANCE", "MR screening needs clearance"
        MR_UNSAFE = "MR_UNSAFE", "MR Unsafe"

    class Decision(models.TextChoices):
        OPEN = "", "Open"
        PROCEED = "PROCEED", "Proceed"
        PROCEED_ADJUSTED = "PROCEED_ADJUSTED", "Proceed with premedication or adjusted protocol"
        NON_CONTRAST = "NON_CONTRAST", "Change to non-contrast"
        CANCEL = "CANCEL", "Cancel the exam"

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="safety_flags")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=128, help_text="The evidence the finding rests on")
    detail = models.CharField(max_length=255, help_text="The finding in words when it was flagged")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True, default=Decision.OPEN)
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    started_open_at = models.DateTimeField(
        null=True, blank=True, help_text="The exam was started (by the modality) while this finding was open"
    )
    started_open_by = models.CharField(max_length=150, blank=True)

    history = audited_history()

    class Meta:
        ordering = ["exam", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["exam", "kind", "key"], name="safety_flag_unique_evidence")]
        indexes = [
            models.Index(fields=["started_open_at"], condition=Q(decision=""), name="safety_flag_started_open_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail}"


class MRScreening(TimeStamped):
    """The MR safety questionnaire, completed for one exam before it starts."""

    class Answer(models.TextChoices):
        NO = "NO", "No"
        YES = "YES", "Yes"
        UNKNOWN = "UNKNOWN", "Not known"

    exam = models.OneToOneField(Exam, on_delete=models.CASCADE, related_name="mr_screening")
    implants_or_devices = models.CharField(max_length=7, choices=Answer.choices)
    metal_fragments = models.CharField(
        "metal fragments (eyes, shrapnel, metalwork)", max_length=7, choices=Answer.choices
    )
    prior_surgery = models.CharField(max_length=7, choices=Answer.choices)
    pregnancy = models.CharField("pregnant or possibly pregnant", max_length=7, choices=Answer.choices)
    claustrophobia = models.CharField(max_length=7, choices=Answer.choices)
    weight_kg = models.DecimalField("weight (kg)", max_digits=5, decimal_places=1, null=True, blank=True)
    details = models.TextField(blank=True, help_text="Details of every yes: which device, which surgery, when")
    completed_by = models.CharField(max_length=150)
    completed_at = models.DateTimeField()

    history = audited_history()

    QUESTIONS = ("implants_or_devices", "metal_fragments", "prior_surgery", "pregnancy", "claustrophobia")

    def __str__(self) -> str:
        return f"MR screening of {self.exam_id}"


class ExamDocumentation(TimeStamped):
    """What the technologist records at completion: contrast given, any reaction, the radiation dose."""

    class Reaction(models.TextChoices):
        NONE = "NONE", "None"
        MILD = "MILD", "Mild"
        MODERATE = "MODERATE", "Moderate"
        SEVERE = "SEVERE", "Severe"

    exam = models.OneToOneField(Exam, on_delete=models.CASCADE, related_name="documentation")
    contrast_given = models.BooleanField(default=False)
    contrast_agent = models.CharField(max_length=64, blank=True)
    contrast_route = models.CharField(max_length=32, blank=True)
    contrast_volume_ml = models.DecimalField("volume (mL)", max_digits=6, decimal_places=1, null=True, blank=True)
    contrast_lot = models.CharField("lot number", max_length=32, blank=True)
    reaction = models.CharField(max_length=8, choices=Reaction.choices, default=Reaction.NONE)
    reaction_notes = models.TextField(blank=True)
    reaction_allergy = models.ForeignKey(
        Allergy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="The allergy entry"
    )
    ctdivol_mgy = models.DecimalField("CTDIvol (mGy)", max_digits=9, decimal_places=2, null=True, blank=True)
    dlp_mgycm = models.DecimalField("DLP (mGy·cm)", max_digits=10, decimal_places=2, null=True, blank=True)
    dap_gycm2 = models.DecimalField("DAP (Gy·cm²)", max_digits=10, decimal_places=4, null=True, blank=True)
    fluoroscopy_seconds = models.DecimalField(
        "fluoroscopy time (s)", max_digits=8, decimal_places=1, null=True, blank=True
    )
    dose_source = models.CharField(max_length=8, choices=Source.choices, blank=True)
    # Empty while only the modality has reported (a dose from MPPS): the technologist has not documented yet.
    documented_by = models.CharField(max_length=150, blank=True)
    documented_at = models.DateTimeField(null=True, blank=True)

    history = audited_history()

    def __str__(self) -> str:
        return f"Documentation of {self.exam_id}"
