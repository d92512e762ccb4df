"""Export batches: the READY claims of a period to CSV (one row per service line) and to one X12 837P interchange.

Runs in a Celery task (billing.tasks.export_batch). The claims are taken into the batch first (so that two batches
never export one claim), the files are written claim by claim in chunks (10,000 claims stay within memory), the
batch's progress is committed every chunk for the page's progress bar, and the claims become EXPORTED at the end,
each with its history row. Self-pay claims go to the CSV (patient statements) and not to the 837P.
"""

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from billing import selectors, x12
from billing.models import Charge, Claim, ExportBatch
from ris import csvsafe
from ris.audit import actor_label, attribute
from ris.services import sequence_next_value

log = logging.getLogger(__name__)

CHUNK = 500
CSV_COLUMNS = [
    "batch",
    "claim_number",
    "payer_id",
    "payer_name",
    "member_id",
    "group_number",
    "patient_mrn",
    "patient_family_name",
    "patient_given_name",
    "patient_birth_date",
    "date_of_service",
    "line",
    "accession_number",
    "cpt_code",
    "modifiers",
    "units",
    "fee",
    "amount",
    "diagnosis_codes",
    "place_of_service",
    "rendering_npi",
    "claim_total",
]
INTERCHANGE_SEQUENCE = "x12_interchange"  # ISA13/GS06/ST02: 1..999,999,999, never repeated


def batch_run(batch_id: int, *, progress: Callable[[int, int], None] | None = None) -> ExportBatch | None:
    """Export one queued batch; a batch already taken (or gone) is left alone. Failures mark the batch FAILED.

    `progress(done, total)` is called after each chunk of claims (the terminal's bar: manage.py export_claims).
    """
    batch = _start(batch_id)
    if batch is None:
        return None
    try:
        csv_path, x12_path = _write_files(batch, progress)
        return _finish(batch, csv_path, x12_path)
    except Exception as error:
        log.exception("Export batch %s failed", batch.pk)
        for path in _export_paths(batch):  # nothing half-written is kept
            path.unlink(missing_ok=True)
        with transaction.atomic():
            Claim.objects.filter(batch=batch, status=Claim.Status.READY).update(batch=None)
            batch.status, batch.error, batch.finished_at = ExportBatch.Status.FAILED, str(error)[:2000], timezone.now()
            batch.save(update_fields=["status", "error", "finished_at", "updated_at"])
        return batch


@transaction.atomic
def _start(batch_id: int) -> ExportBatch | None:
    batch = ExportBatch.objects.select_for_update().filter(pk=batch_id, status=ExportBatch.Status.QUEUED).first()
    if batch is None:
        return None
    claims = selectors.claims_exportable(date_from=batch.date_from, date_to=batch.date_to, payer=batch.payer)
    taken = claims.select_for_update().update(batch=batch)
    batch.claims_total, batch.claims_done = taken, 0
    batch.status = ExportBatch.Status.RUNNING
    batch.control_number = sequence_next_value(INTERCHANGE_SEQUENCE)
    batch.save(update_fields=["claims_total", "claims_done", "status", "control_number", "updated_at"])
    return batch


def _claims_in_chunks(batch: ExportBatch) -> Iterator[list[Claim]]:
    ids = list(Claim.objects.filter(batch=batch).order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        claims = (
            Claim.objects.filter(pk__in=chunk)
            .select_related("patient", "payer", "coverage")
            .order_by("id")
            .prefetch_related(_charges_prefetch())
        )
        yield list(claims)


def _charges_prefetch() -> Prefetch:
    charges = Charge.objects.select_related("rendering_provider", "exam__order__referring_physician").order_by("id")
    return Prefetch("charges", queryset=charges, to_attr="lines")


def _export_paths(batch: ExportBatch) -> tuple[Path, Path]:
    folder = Path(settings.MEDIA_ROOT) / ExportBatch.FOLDER
    return folder / f"{batch.number}.csv", folder / f"{batch.number}.837"


def _write_files(batch: ExportBatch, progress: Callable[[int, int], None] | None) -> tuple[Path, Path | None]:
    csv_path, x12_path = _export_paths(batch)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    done = 0

    def claims_for_x12() -> Iterator[x12.ClaimData]:
        nonlocal done
        for chunk in _claims_in_chunks(batch):
            for claim in chunk:
                writer.writerows(csv_rows(batch, claim))
                if claim.payer_id is not None:
                    yield claim_data(claim)
            done += len(chunk)
            ExportBatch.objects.filter(pk=batch.pk).update(claims_done=done, updated_at=timezone.now())
            if progress is not None:
                progress(done, batch.claims_total)

    insured = Claim.objects.filter(batch=batch, payer__isnull=False).exists()
    with csv_path.open("w", newline="", encoding="utf-8") as csv_out:
        writer = csvsafe.writer(csv_out)  # names and codes must not run as spreadsheet formulas
        writer.writerow(CSV_COLUMNS)
        if not insured:  # self-pay claims only: patient statements, no 837P
            for _ in claims_for_x12():
                pass
            return csv_path, None
        with x12_path.open("w", encoding="ascii") as x12_out:
            x12.write_837p(x12_out, interchange_for(batch), claims_for_x12())
    return csv_path, x12_path


def csv_rows(batch: ExportBatch, claim: Claim) -> Iterator[list]:
    patient, coverage = claim.patient, claim.coverage
    for number, charge in enumerate(claim.lines, start=1):
        yield [
            batch.number,
            claim.number,
            claim.payer.payer_id if claim.payer_id else "SELF-PAY",
            claim.payer.name if claim.payer_id else "",
            coverage.member_id if coverage else "",
            coverage.group_number if coverage else "",
            patient.mrn,
            patient.family_name,
            patient.given_name,
            patient.birth_date.isoformat() if patient.birth_date else "",
            claim.date_of_service.isoformat(),
            number,
            charge.exam.accession_number,
            charge.cpt_code,
            " ".join(charge.modifiers),
            charge.units,
            f"{charge.fee:.2f}",
            f"{charge.amount:.2f}",
            " ".join(charge.diagnosis_codes),
            charge.place_of_service,
            charge.rendering_provider.npi if charge.rendering_provider_id else "",
            f"{claim.total:.2f}",
        ]


def _organization(facility) -> x12.Organization:
    return x12.Organization(
        name=facility.name,
        npi=facility.npi,
        tax_id=facility.tax_id,
        street=facility.street,
        city=facility.city,
        state=facility.state,
        postal_code=facility.postal_code,
        contact_name=settings.RIS_X12_CONTACT_NAME,
        contact_phone=settings.RIS_X12_CONTACT_PHONE,
    )


def interchange_for(batch: ExportBatch) -> x12.Interchange:
    provider = _organization(selectors.billing_provider())
    return x12.Interchange(
        sender_id=settings.RIS_X12_SENDER_ID,
        receiver_id=settings.RIS_X12_RECEIVER_ID,
        receiver_name=settings.RIS_X12_RECEIVER_NAME,
        control_number=batch.control_number,
        created_at=timezone.localtime(),
        submitter=provider,
        billing_provider=provider,
        usage=settings.RIS_X12_USAGE,
    )


def _person(family: str, given: str, birth_date, sex: str, address) -> x12.Person:
    return x12.Person(
        family_name=family,
        given_name=given,
        birth_date=birth_date,
        sex=sex if sex in ("M", "F") else "U",
        street=address.street,
        city=address.city,
        state=address.state,
        postal_code=address.postal_code,
    )


def claim_data(claim: Claim) -> x12.ClaimData:
    """A claim as the 837P writer takes it; diagnosis pointers point into the claim's list of codes."""
    patient, coverage = claim.patient, claim.coverage
    patient_person = _person(patient.family_name, patient.given_name, patient.birth_date, patient.sex, patient)
    self_insured = coverage.relationship == coverage.Relationship.SELF
    subscriber = patient_person
    if not self_insured:
        subscriber = _person(
            coverage.subscriber_family_name,
            coverage.subscriber_given_name,
            coverage.subscriber_birth_date,
            coverage.subscriber_sex,
            patient,
        )
    codes: list[str] = []
    for charge in claim.lines:
        codes.extend(code for code in charge.diagnosis_codes if code not in codes)
    lines = tuple(
        x12.ServiceLine(
            cpt_code=charge.cpt_code,
            modifiers=tuple(charge.modifiers),
            units=charge.units,
            charge=charge.amount,
            date_of_service=charge.date_of_service,
            diagnosis_pointers=tuple(codes.index(code) + 1 for code in charge.diagnosis_codes[:4]),
            control_number=str(charge.pk),
        )
        for charge in claim.lines
    )
    first = claim.lines[0]
    radiologist = first.rendering_provider
    referrer = first.exam.order.referring_physician
    return x12.ClaimData(
        claim_number=claim.number,
        total=sum((line.charge for line in lines), Decimal("0")),
        place_of_service=first.place_of_service,
        diagnosis_codes=tuple(codes),
        subscriber=subscriber,
        relationship=coverage.relationship,
        patient=patient_person,
        member_id=coverage.member_id,
        group_number=coverage.group_number,
        payer_name=claim.payer.name,
        payer_id=claim.payer.payer_id,
        payer_responsibility={"primary": "P", "secondary": "S", "tertiary": "T"}[coverage.priority],
        rendering_provider=x12.Provider(radiologist.last_name, radiologist.first_name, radiologist.npi)
        if radiologist
        else None,
        referring_provider=x12.Provider(referrer.family_name, referrer.given_name, referrer.npi)
        if referrer and referrer.npi
        else None,
        lines=lines,
    )


@transaction.atomic
def _finish(batch: ExportBatch, csv_path: Path, x12_path: Path | None) -> ExportBatch:
    now = timezone.now()
    claims = list(Claim.objects.select_for_update().filter(batch=batch))
    for claim in claims:
        claim.status, claim.updated_at = Claim.Status.EXPORTED, now
    bulk_update_with_history(
        claims,
        Claim,
        ["status", "updated_at"],
        batch_size=1000,
        default_user=batch.created_by,
        default_change_reason=f"exported in {batch.number}",
        custom_historical_attrs={"history_actor": actor_label(batch.created_by)},
    )
    media = Path(settings.MEDIA_ROOT)
    batch.csv_file.name = str(csv_path.relative_to(media))
    batch.x12_file.name = str(x12_path.relative_to(media)) if x12_path else ""
    batch.status, batch.claims_done, batch.finished_at = ExportBatch.Status.DONE, len(claims), now
    attribute(batch, batch.created_by, "exported")
    batch.save()
    return batch
