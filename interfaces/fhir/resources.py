"""FHIR R4 resources built from the RIS's models: pure functions, no database access of their own.

Each builder takes a model instance with the relations it prints already loaded (the querysets of
interfaces.fhir.search select and prefetch them) and a `Links` for absolute URLs, and returns a JSON-ready dict.
Empty values are left out: FHIR forbids empty strings, arrays and objects.

What maps to what:

- Patient: ris.models.Patient. A record merged into another (HL7 ADT^A40) is `active: false` with a `link` of type
  replaced-by to the survivor; the survivor links back (replaces).
- ServiceRequest: one per Exam, i.e. per requested procedure (IHE SWF), not one per Order. Appointment and
  ImagingStudy are per exam too, so the three share the exam's id and each has one procedure `code`; the accession
  number is the exam's own (or its order's with RIS_ACCESSION_PER=order), the filler and placer order numbers are
  identifiers shared by the exams of an order, and `requisition` (the filler order number) groups them.
- Appointment: an exam that has a slot (scheduled start and end on a room); the room is a contained Location.
- ImagingStudy: every exam, since the RIS assigns the Study Instance UID when the order is placed (the modality
  worklist carries it): "registered" until the exam is performed, then "available".
- DiagnosticReport: a FINAL report (drafts and preliminary reports are never exposed); "amended" once an addendum
  is signed. Its PDF is linked (presentedForm url) and its full text is attached as text/plain.
"""

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone

from reporting.models import Addendum, Report
from reporting.text import report_lines
from ris.models import Patient, ProcedureType, ReferringPhysician, Room
from scheduling.models import Exam, ExamStatus, Priority

S = ExamStatus

FHIR_VERSION = "4.0.1"

# --- Code and identifier systems -------------------------------------------------------------------------------
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"  # identifier types: MR, ACSN, FILL, PLAC
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"  # diagnostic service sections: RAD
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
US_NPI = "http://hl7.org/fhir/sid/us-npi"
DICOM_UID = "urn:dicom:uid"
RESTFUL_SECURITY = "http://terminology.hl7.org/CodeSystem/restful-security-service"

# The RIS's own identifier systems (URNs; an issuer or application name is percent-encoded).
MRN_SYSTEM_PREFIX = "urn:ris:mrn:"  # + the issuing authority (Patient.mrn_issuer, settings.RIS_MRN_ISSUER)
ACCESSION_SYSTEM = "urn:ris:accession"
FILLER_ORDER_SYSTEM = "urn:ris:filler-order"
PLACER_ORDER_SYSTEM_PREFIX = "urn:ris:placer-order:"  # + the placer application
REQUESTED_PROCEDURE_SYSTEM = "urn:ris:requested-procedure"  # DICOM (0040,1001)
SCHEDULED_STEP_SYSTEM = "urn:ris:scheduled-procedure-step"  # DICOM (0040,0009)
PROCEDURE_CODE_SYSTEM = "urn:ris:procedure-code"  # the department's catalog (HL7 OBR-4)
STATION_AE_SYSTEM = "urn:ris:station-ae-title"

RADIOLOGY_CATEGORY = {
    "coding": [
        {"system": V2_0074, "code": "RAD", "display": "Radiology"},
        {"system": LOINC, "code": "LP29684-5", "display": "Radiology"},
    ]
}

# --- Status maps: every exam status to a code of the resource's required value set --------------------------------
# request-status: the request is active until performed (a no-show waits to be rebooked, as the order does),
# completed once performed (as the order's own status, HL7 ORC-5 CM), revoked when cancelled or discontinued.
SERVICE_REQUEST_STATUS: dict[str, str] = {
    S.ORDERED: "active",
    S.SCHEDULED: "active",
    S.ARRIVED: "active",
    S.IN_PROGRESS: "active",
    S.NO_SHOW: "active",
    S.COMPLETED: "completed",
    S.PRELIMINARY: "completed",
    S.FINAL: "completed",
    S.AMENDED: "completed",
    S.CANCELLED: "revoked",
    S.DISCONTINUED: "revoked",
}
SERVICE_REQUEST_CODES = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")

# appointmentstatus: R4 has no "in progress"; the appointment stays "arrived" until the exam is done (an exam
# discontinued midway did take place: fulfilled). An ORDERED exam with a slot cannot arise through the services.
APPOINTMENT_STATUS: dict[str, str] = {
    S.ORDERED: "proposed",
    S.SCHEDULED: "booked",
    S.ARRIVED: "arrived",
    S.IN_PROGRESS: "arrived",
    S.COMPLETED: "fulfilled",
    S.PRELIMINARY: "fulfilled",
    S.FINAL: "fulfilled",
    S.AMENDED: "fulfilled",
    S.DISCONTINUED: "fulfilled",
    S.CANCELLED: "cancelled",
    S.NO_SHOW: "noshow",
}
APPOINTMENT_CODES = (
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
)

# imagingstudy-status: registered (the UID is known, no images yet), available once performed, cancelled when the
# exam was cancelled or discontinued ("not started or not completed").
IMAGING_STUDY_STATUS: dict[str, str] = {
    S.ORDERED: "registered",
    S.SCHEDULED: "registered",
    S.ARRIVED: "registered",
    S.IN_PROGRESS: "registered",
    S.NO_SHOW: "registered",
    S.COMPLETED: "available",
    S.PRELIMINARY: "available",
    S.FINAL: "available",
    S.AMENDED: "available",
    S.CANCELLED: "cancelled",
    S.DISCONTINUED: "cancelled",
}
IMAGING_STUDY_CODES = ("registered", "available", "cancelled", "entered-in-error", "unknown")

# diagnostic-report-status: only FINAL reports are exposed; "amended" once an addendum is signed.
DIAGNOSTIC_REPORT_CODES = (
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
)

PRIORITY: dict[str, str] = {Priority.ROUTINE: "routine", Priority.URGENT: "urgent", Priority.STAT: "stat"}
GENDER: dict[str, str] = {
    Patient.Sex.MALE: "male",
    Patient.Sex.FEMALE: "female",
    Patient.Sex.OTHER: "other",
    Patient.Sex.UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class Links:
    """Absolute URLs: `base` is the FHIR base URL (ending in "/"), `absolute` makes a site path absolute."""

    base: str
    absolute: Callable[[str], str]

    def full_url(self, resource: dict) -> str:
        return f"{self.base}{resource['resourceType']}/{resource['id']}"

    def report_pdf(self, report_pk: int) -> str:
        """The REST API's PDF of the report: it takes the same sign-in (Basic, token) as FHIR, not only a session."""
        return self.absolute(reverse("api:report-pdf", kwargs={"pk": report_pk}))


# --- Data types ----------------------------------------------------------------------------------------------


def compact(value):
    """`value` without None, empty strings, lists and dicts, at any depth (FHIR allows no empty values)."""
    if isinstance(value, dict):
        cleaned = {key: compact(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        cleaned = [compact(item) for item in value]
        return [item for item in cleaned if item not in (None, "", [], {})]
    return value


def instant(value: datetime | None) -> str | None:
    """An aware datetime as a FHIR instant/dateTime in the department's time zone, to the second."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def fhir_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def urn_part(text: str) -> str:
    """A name (an issuer, an application) as one part of a URN."""
    return quote(text, safe="")


def identifier_type(code: str, display: str) -> dict:
    return {"coding": [{"system": V2_0203, "code": code, "display": display}], "text": display}


def accession_identifier(accession_number: str) -> dict:
    return {
        "use": "usual",
        "type": identifier_type("ACSN", "Accession ID"),
        "system": ACCESSION_SYSTEM,
        "value": accession_number,
    }


def mrn_system(issuer: str) -> str:
    return MRN_SYSTEM_PREFIX + urn_part(issuer)


def person_text(person) -> str:
    """A PersonName in reading order: "Dr Jürgen K. Müller MD"."""
    parts = (person.name_prefix, person.given_name, person.middle_name, person.family_name, person.name_suffix)
    return " ".join(part for part in parts if part)


def user_text(user) -> str:
    name = user.get_full_name() or user.get_username()
    return f"{name} {user.title}".strip() if getattr(user, "title", "") else name


def patient_reference(patient: Patient) -> dict:
    return {"reference": f"Patient/{patient.pk}", "type": "Patient", "display": person_text(patient)}


def service_request_reference(exam: Exam) -> dict:
    return {"reference": f"ServiceRequest/{exam.pk}", "type": "ServiceRequest"}


def physician_reference(physician: ReferringPhysician | None) -> dict | None:
    """A referring physician as a logical reference (no Practitioner is served): display and NPI."""
    if physician is None:
        return None
    identifier = {"system": US_NPI, "value": physician.npi} if physician.npi else None
    return {"type": "Practitioner", "identifier": identifier, "display": person_text(physician)}


def user_reference(user) -> dict | None:
    if user is None:
        return None
    identifier = {"system": US_NPI, "value": user.npi} if getattr(user, "npi", "") else None
    return {"type": "Practitioner", "identifier": identifier, "display": user_text(user)}


def procedure_concept(procedure: ProcedureType) -> dict:
    """The procedure by its CPT code (no display: the name is the department's, not the AMA's descriptor) and by
    the department's own catalog code."""
    return {
        "coding": [
            {"system": CPT, "code": procedure.cpt_code},
            {"system": PROCEDURE_CODE_SYSTEM, "code": procedure.code, "display": procedure.name},
        ],
        "text": procedure.name,
    }


def reason_concepts(order) -> list[dict]:
    """Each ICD-10-CM diagnosis code, then the reason for exam as text."""
    concepts = [{"coding": [{"system": ICD10CM, "code": code}]} for code in order.diagnosis_codes or []]
    if order.reason.strip():
        concepts.append({"text": order.reason.strip()})
    return concepts


def modality_coding(procedure: ProcedureType) -> dict:
    modality = procedure.modality
    return {"system": DCM, "code": modality.code, "display": modality.name}


def last_updated(*moments: datetime | None) -> dict:
    return {"lastUpdated": instant(max(moment for moment in moments if moment is not None))}


# --- Resources -----------------------------------------------------------------------------------------------


def patient(record: Patient, links: Links) -> dict:
    """A patient. Needs `merged_records` prefetched (the records merged into this one)."""
    link = [
        {"other": {"reference": f"Patient/{merged.pk}", "type": "Patient"}, "type": "replaces"}
        for merged in record.merged_records.all()
    ]
    if record.merged_into_id is not None:
        link.append(
            {"other": {"reference": f"Patient/{record.merged_into_id}", "type": "Patient"}, "type": "replaced-by"}
        )
    address = {
        "use": "home",
        "line": [record.street],
        "city": record.city,
        "state": record.state,
        "postalCode": record.postal_code,
        "country": record.country,
    }
    return compact(
        {
            "resourceType": "Patient",
            "id": str(record.pk),
            "meta": last_updated(record.updated_at),
            "identifier": [
                {
                    "use": "usual",
                    "type": identifier_type("MR", "Medical record number"),
                    "system": mrn_system(record.mrn_issuer),
                    "value": record.mrn,
                    "assigner": {"display": record.mrn_issuer},
                }
            ],
            "active": not record.is_merged,
            "name": [
                {
                    "use": "official",
                    "text": person_text(record),
                    "family": record.family_name,
                    "given": [record.given_name, record.middle_name],
                    "prefix": [record.name_prefix],
                    "suffix": [record.name_suffix],
                }
            ],
            "telecom": [
                {"system": "phone", "value": record.phone, "use": "home"} if record.phone else None,
                {"system": "email", "value": record.email} if record.email else None,
            ],
            "gender": GENDER[record.sex],
            "birthDate": fhir_date(record.birth_date),
            "address": [address] if compact(address).keys() - {"use"} else [],
            "link": link,
        }
    )


def service_request(exam: Exam, links: Links) -> dict:
    """An exam as the request for its procedure (see the module's docstring for the granularity)."""
    order = exam.order
    identifiers = [
        accession_identifier(exam.accession_number),
        {
            "type": identifier_type("FILL", "Filler Identifier"),
            "system": FILLER_ORDER_SYSTEM,
            "value": order.filler_order_number,
        },
        {"system": REQUESTED_PROCEDURE_SYSTEM, "value": exam.requested_procedure_id},
    ]
    if order.placer_order_number:
        identifiers.append(
            {
                "type": identifier_type("PLAC", "Placer Identifier"),
                "system": PLACER_ORDER_SYSTEM_PREFIX + urn_part(order.placer_application),
                "value": order.placer_order_number,
                "assigner": {"display": order.placer_application},
            }
        )
    occurrence = {"start": instant(exam.scheduled_start), "end": instant(exam.scheduled_end)}
    return compact(
        {
            "resourceType": "ServiceRequest",
            "id": str(exam.pk),
            "meta": last_updated(exam.updated_at, order.updated_at),
            "identifier": identifiers,
            "requisition": {
                "type": identifier_type("FILL", "Filler Identifier"),
                "system": FILLER_ORDER_SYSTEM,
                "value": order.filler_order_number,
            },
            "status": SERVICE_REQUEST_STATUS[exam.status],
            "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}],
            "priority": PRIORITY[order.priority],
            "code": procedure_concept(exam.procedure_type),
            "subject": patient_reference(order.patient),
            "occurrencePeriod": occurrence if exam.scheduled_start else None,
            "authoredOn": instant(order.created_at),
            "requester": physician_reference(order.referring_physician),
            "reasonCode": reason_concepts(order),
            "patientInstruction": exam.procedure_type.preparation,
        }
    )


def room_location(room: Room) -> dict:
    """A room as a Location, contained in the resource that names it."""
    return {
        "resourceType": "Location",
        "id": "room",
        "identifier": [{"system": STATION_AE_SYSTEM, "value": room.station_ae_title}],
        "status": "active" if room.active else "inactive",
        "name": room.name,
        "description": room.location,
        "mode": "instance",
        "managingOrganization": {"type": "Organization", "display": room.facility.name},
    }


def appointment(exam: Exam, links: Links) -> dict:
    """A booked exam (it has a slot): the patient and the room take part, both accepted."""
    order = exam.order
    participants = [{"actor": patient_reference(order.patient), "required": "required", "status": "accepted"}]
    contained = []
    if exam.room is not None:
        contained.append(room_location(exam.room))
        participants.append(
            {
                "actor": {"reference": "#room", "type": "Location", "display": exam.room.name},
                "required": "required",
                "status": "accepted",
            }
        )
    minutes = None
    if exam.scheduled_start and exam.scheduled_end:
        minutes = int((exam.scheduled_end - exam.scheduled_start).total_seconds() // 60)
    cancelled = exam.status == S.CANCELLED and exam.status_reason
    return compact(
        {
            "resourceType": "Appointment",
            "id": str(exam.pk),
            "meta": last_updated(exam.updated_at),
            "contained": contained,
            "identifier": [
                {"system": SCHEDULED_STEP_SYSTEM, "value": exam.scheduled_procedure_step_id},
                accession_identifier(exam.accession_number),
            ],
            "status": APPOINTMENT_STATUS[exam.status],
            "cancelationReason": {"text": exam.status_reason} if cancelled else None,
            "serviceType": [procedure_concept(exam.procedure_type)],
            "reasonCode": reason_concepts(order),
            "description": exam.procedure_type.name,
            "start": instant(exam.scheduled_start),
            "end": instant(exam.scheduled_end),
            "minutesDuration": minutes,
            "basedOn": [service_request_reference(exam)],
            "patientInstruction": exam.procedure_type.preparation,
            "participant": participants,
        }
    )


def imaging_study(exam: Exam, links: Links) -> dict:
    """The study the exam produces, known by the Study Instance UID the RIS assigned."""
    order = exam.order
    return compact(
        {
            "resourceType": "ImagingStudy",
            "id": str(exam.pk),
            "meta": last_updated(exam.updated_at),
            "identifier": [
                {"use": "official", "system": DICOM_UID, "value": f"urn:oid:{exam.study_instance_uid}"},
                accession_identifier(exam.accession_number),
            ],
            "status": IMAGING_STUDY_STATUS[exam.status],
            "modality": [modality_coding(exam.procedure_type)],
            "subject": patient_reference(order.patient),
            "started": instant(exam.started_at),
            "basedOn": [service_request_reference(exam)],
            "referrer": physician_reference(order.referring_physician),
            "location": {"type": "Location", "display": exam.room.name} if exam.room else None,
            "procedureCode": [procedure_concept(exam.procedure_type)],
            "reasonCode": reason_concepts(order),
            "description": exam.procedure_type.name,
        }
    )


def diagnostic_report(report: Report, links: Links, addenda: Iterable[Addendum] | None = None) -> dict:
    """A FINAL report. `addenda` are its signed addenda in order (with their authors); by default the
    `signed_addenda` that interfaces.fhir.search.reports() prefetches."""
    if not report.is_final:
        raise ValueError("Only a final report is a DiagnosticReport.")
    addenda = list(report.signed_addenda if addenda is None else addenda)
    exam = report.exam
    order = exam.order
    issued = max([report.signed_at, *(addendum.signed_at for addendum in addenda)])
    text = "\n".join(report_lines(report, addenda)) + "\n"
    signer = user_reference(report.signed_by)
    return compact(
        {
            "resourceType": "DiagnosticReport",
            "id": str(report.pk),
            "meta": last_updated(report.updated_at, issued),
            "identifier": [accession_identifier(exam.accession_number)],
            "basedOn": [service_request_reference(exam)],
            "status": "amended" if addenda else "final",
            "category": [RADIOLOGY_CATEGORY],
            "code": procedure_concept(exam.procedure_type),
            "subject": patient_reference(order.patient),
            "effectiveDateTime": instant(exam.completed_at or exam.started_at),
            "issued": instant(issued),
            "performer": [signer],
            "resultsInterpreter": [signer],
            "imagingStudy": [{"reference": f"ImagingStudy/{exam.pk}", "type": "ImagingStudy"}],
            "conclusion": report.impression.strip(),
            "presentedForm": [
                {
                    "contentType": "application/pdf",
                    "url": links.report_pdf(report.pk),
                    "title": f"report-{exam.accession_number}.pdf",
                    "creation": instant(issued),
                },
                {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode("ascii"),
                    "title": f"Report {exam.accession_number}",
                    "creation": instant(issued),
                },
            ],
        }
    )


# --- Bundles, outcomes, the capability statement -------------------------------------------------------------


def searchset(resources: list[dict], *, total: int, links: Links, page_links: dict[str, str]) -> dict:
    """A searchset Bundle: `page_links` maps relations (self, next, previous) to URLs."""
    return compact(
        {
            "resourceType": "Bundle",
            "meta": {"lastUpdated": instant(timezone.now())},
            "type": "searchset",
            "total": total,
            "link": [{"relation": relation, "url": url} for relation, url in page_links.items()],
            "entry": [
                {"fullUrl": links.full_url(resource), "resource": resource, "search": {"mode": "match"}}
                for resource in resources
            ],
        }
    )


def operation_outcome(code: str, diagnostics: str, *, severity: str = "error") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def capability_statement(links: Links, search_params: dict[str, list[tuple[str, str, str]]]) -> dict:
    """What this server does: read and search-type of each resource type, with its search parameters
    (name, type, documentation)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(timezone.now()),
        "publisher": "Radiology Information System",
        "kind": "instance",
        "software": {"name": "RIS"},
        "implementation": {"description": "RIS FHIR R4 read and search", "url": links.base.rstrip("/")},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read and search only; every other interaction is answered 405. Unknown search "
                "parameters are refused (400). Results page with _count (default 50, at most 200) and _offset.",
                "security": {
                    "cors": False,
                    "service": [{"coding": [{"system": RESTFUL_SECURITY, "code": "Basic"}]}],
                    "description": "An API token (Authorization: Bearer ris_...), HTTP Basic for accounts without "
                    "a second factor, or a signed-in session; "
                    "front desk, technologists, radiologists and administrators only (billing gets 403). This "
                    "statement itself is public.",
                },
                "resource": [
                    {
                        "type": resource_type,
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "versioning": "no-version",
                        "readHistory": False,
                        "updateCreate": False,
                        "searchParam": [
                            {"name": name, "type": kind, "documentation": documentation}
                            for name, kind, documentation in params
                        ],
                    }
                    for resource_type, params in search_params.items()
                ],
            }
        ],
    }
