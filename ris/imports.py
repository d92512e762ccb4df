"""Bulk import of the procedure catalog from a CSV file (docs/catalog.md): every row through procedure_type_save.

The file is checked as a whole first (UTF-8, a comma-separated header naming known columns, the required ones
present): a file that fails is refused before anything is written. Then each row is saved in its own transaction;
a refused row is kept in the job's errors with its line number and the service's message and the others go on.
The counters are committed every PROGRESS_EVERY_ROWS rows or PROGRESS_EVERY_SECONDS, for the page's progress bar;
`progress(done, total)` is called after every row, for the terminal's. Runs as the Celery task ris.import_catalog,
or in-process from `manage.py import_catalog`.
"""

import csv
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ris.audit import Actor, Interface, actor_label, attribute
from ris.exceptions import ApplicationError
from ris.models import CatalogImport, ContrastClass, Modality, ProcedureType
from ris.services import procedure_type_save, validated_or_raise

log = logging.getLogger(__name__)

# CSV column -> ProcedureType field. The first four are required; an optional column left out of the file leaves
# the field as it is (a new procedure gets the model's default).
COLUMNS = {
    "code": "code",
    "name": "name",
    "modality": "modality",
    "cpt_code": "cpt_code",
    "duration_minutes": "default_duration_minutes",
    "body_part": "body_part",
    "preparation": "preparation",
    "active": "active",
    "allowed_sex": "allowed_sex",
    "min_age": "min_age_years",
    "max_age": "max_age_years",
    "contrast": "contrast",
    "needs_protocol": "needs_protocol",
}
REQUIRED = ("code", "name", "modality", "cpt_code")
# allowed_sex cells: blank is any sex.
SEXES = {
    "": ProcedureType.AllowedSex.ANY,
    "any": ProcedureType.AllowedSex.ANY,
    "a": ProcedureType.AllowedSex.ANY,
    "female": ProcedureType.AllowedSex.FEMALE,
    "f": ProcedureType.AllowedSex.FEMALE,
    "male": ProcedureType.AllowedSex.MALE,
    "m": ProcedureType.AllowedSex.MALE,
}
# contrast cells: blank is none.
CONTRASTS = {
    "": ContrastClass.NONE,
    "none": ContrastClass.NONE,
    "iodinated": ContrastClass.IODINATED,
    "gadolinium": ContrastClass.GADOLINIUM,
    "other": ContrastClass.OTHER,
}
YES, NO = frozenset({"yes", "y", "true", "1"}), frozenset({"no", "n", "false", "0"})
MAX_BYTES = 10 * 1024 * 1024
PROGRESS_EVERY_ROWS = 50
PROGRESS_EVERY_SECONDS = 1.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Row:
    """One data row of the file: its first line number in the file and its cells by column."""

    line: int
    values: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # a row the file itself makes unreadable (a wrong number of cells)


# --- the file (pure: no database) ------------------------------------------------------------------------------


def parse(data: bytes) -> list[Row]:
    """The data rows of a catalog CSV; a file that is no such CSV is refused with ApplicationError."""
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte order mark
    except UnicodeDecodeError:
        raise ApplicationError(
            "The file is not UTF-8 text: save it from the spreadsheet as “CSV UTF-8 (comma delimited)”."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
        if header is None:
            raise ApplicationError(f"The file is empty: its first line must be the header {','.join(COLUMNS)}.")
        columns = _checked_header(header)
        rows, previous_end = [], reader.line_num
        for cells in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines and the empty rows spreadsheets leave at the end
            if len(cells) != len(columns):
                problem = f"{len(cells)} cells where the header has {len(columns)} columns; check the quoting."
                rows.append(Row(line, problem=problem))
                continue
            rows.append(Row(line, dict(zip(columns, cells, strict=True))))
    except csv.Error as error:
        raise ApplicationError(f"Line {reader.line_num} cannot be read as CSV: {error}.") from None
    if not rows:
        raise ApplicationError("The file has a header but no rows to import.")
    return rows


def _checked_header(header: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    expected = f"The columns are {', '.join(COLUMNS)} (the first four required)."
    if len(columns) == 1 and (";" in columns[0] or "\t" in columns[0]):
        raise ApplicationError(f"The columns must be separated by commas, not semicolons or tabs. {expected}")
    unknown = [column for column in columns if column not in COLUMNS]
    if unknown:
        raise ApplicationError(f"Unknown columns: {', '.join(repr(c) for c in unknown)}. {expected}")
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise ApplicationError(f"Columns named twice: {', '.join(repeated)}. {expected}")
    missing = [column for column in REQUIRED if column not in columns]
    if missing:
        raise ApplicationError(f"Required columns missing: {', '.join(missing)}. {expected}")
    return columns


def row_fields(row: Row, modalities: dict[str, Modality]) -> tuple[dict, dict[str, str]]:
    """The procedure_type_save arguments of the cells that can be read (blank duration or active cells leave the
    field as it is), and a message for each column that cannot (all of them, not only the first)."""
    if row.problem:
        return {}, {"": row.problem}
    fields: dict = {}
    problems: dict[str, str] = {}
    for column, raw in row.values.items():
        value = raw.strip()
        if column == "modality":
            if value.upper() not in modalities:
                known = ", ".join(sorted(modalities))
                problem = f"{value!r} is not a modality of the RIS" if value else "a modality code is required"
                problems[column] = f"modality: {problem} ({known})."
                continue
            value = modalities[value.upper()]
        elif column == "duration_minutes":
            if not value:
                continue
            if not value.isdigit():
                problems[column] = f"duration minutes: {value!r} is not a whole number of minutes."
                continue
            value = int(value)
        elif column in ("active", "needs_protocol"):  # blank: unchanged (a new CT or MR procedure is protocoled)
            if not value:
                continue
            if value.lower() not in YES | NO:
                problems[column] = f"{column.replace('_', ' ')}: {value!r} is neither yes nor no."
                continue
            value = value.lower() in YES
        elif column == "contrast":
            if value.lower() not in CONTRASTS:
                problems[column] = f"contrast: {value!r} is not none, iodinated, gadolinium or other."
                continue
            value = CONTRASTS[value.lower()]
        elif column == "allowed_sex":
            if value.lower() not in SEXES:
                problems[column] = f"allowed sex: {value!r} is not any, female or male."
                continue
            value = SEXES[value.lower()]
        elif column in ("min_age", "max_age"):  # blank: no limit
            if value and not value.isdigit():
                problems[column] = f"{column.replace('_', ' ')}: {value!r} is not a whole number of years."
                continue
            value = int(value) if value else None
        fields[COLUMNS[column]] = value
    return fields, problems


# --- the job ---------------------------------------------------------------------------------------------------


@transaction.atomic
def catalog_import_create(*, upload: File, acting_user: Actor, queue: bool = True) -> CatalogImport:
    """Check an uploaded catalog CSV and keep it as a job; queue its import (ris.import_catalog) unless told not to.

    A file that is no catalog CSV is refused here, before anything is written.
    """
    if upload.size is not None and upload.size > MAX_BYTES:
        raise ApplicationError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it in parts.")
    data = b"".join(upload.chunks())
    rows = parse(data)
    name = PurePath(upload.name or "catalog.csv").name
    job = CatalogImport(
        file_name=name[:255],
        rows_total=len(rows),
        created_by=acting_user if isinstance(acting_user, AbstractBaseUser) else None,
        actor=actor_label(acting_user),
    )
    job.file.save(name, ContentFile(data), save=False)
    attribute(job, acting_user, "queued")
    job.save()
    log.info("Catalog import %s queued by %s: %s rows", job.pk, job.actor, job.rows_total)
    if queue:
        from ris.tasks import import_catalog  # the task module imports this one

        transaction.on_commit(lambda: import_catalog.delay(job.pk))
    return job


def job_actor(job: CatalogImport) -> Actor:
    """Who the rows are saved for: the user who uploaded, or the interface (CLI:import_catalog) that did."""
    if job.created_by_id is not None:
        return job.created_by
    protocol, _, peer = job.actor.partition(":")
    return Interface(protocol, peer)


def catalog_import_run(import_id: int, *, progress: Progress | None = None) -> CatalogImport | None:
    """Import one queued job; a job already taken (or gone) is left alone. An unexpected failure marks it FAILED,
    keeping the rows already imported and counted."""
    job = _start(import_id)
    if job is None:
        return None
    counts = {"rows_done": 0, "created_count": 0, "updated_count": 0, "errors": []}
    try:
        with job.file.open("rb") as stored:
            rows = parse(stored.read())
        job.rows_total = len(rows)
        CatalogImport.objects.filter(pk=job.pk).update(rows_total=job.rows_total)
        actor = job_actor(job)
        modalities = {modality.code: modality for modality in Modality.objects.all()}
        committed_at = time.monotonic()
        for row in rows:
            _import_row(row, modalities, actor, counts)
            counts["rows_done"] += 1
            if progress is not None:
                progress(counts["rows_done"], job.rows_total)
            if (
                counts["rows_done"] % PROGRESS_EVERY_ROWS == 0
                or time.monotonic() - committed_at >= PROGRESS_EVERY_SECONDS
            ):
                CatalogImport.objects.filter(pk=job.pk).update(**counts, updated_at=timezone.now())
                committed_at = time.monotonic()
    except Exception as error:
        log.exception("Catalog import %s failed", job.pk)
        message = error.message if isinstance(error, ApplicationError) else f"The import stopped: {error}"
        return _finish(job, counts, CatalogImport.Status.FAILED, message[:2000])
    return _finish(job, counts, CatalogImport.Status.DONE)


def _import_row(row: Row, modalities: dict[str, Modality], actor: Actor, counts: dict) -> None:
    """Save one row through procedure_type_save (its own transaction); a refusal is counted, not raised, with
    every problem of the row in one message (cells that cannot be read, then the service's checks of the rest)."""
    fields, problems = row_fields(row, modalities)
    existing = ProcedureType.objects.filter(code=fields.get("code", "").strip()).first()
    messages = list(problems.values())
    try:
        if not problems:
            procedure_type_save(acting_user=actor, procedure=existing, **fields)
        elif not row.problem:  # the readable cells checked as the service checks them, without saving
            validated_or_raise(_unsaved(existing, fields), exclude=[COLUMNS[column] for column in problems])
    except ApplicationError as error:
        messages += error.extra.get("errors", [error.message])
    except IntegrityError as error:  # a concurrent change won a race the service's checks could not see
        messages.append(f"The database refused the row: {error}")
    if messages:
        counts["errors"].append({"row": row.line, "message": " ".join(messages)})
    else:
        counts["updated_count" if existing else "created_count"] += 1


def _unsaved(existing: ProcedureType | None, fields: dict) -> ProcedureType:
    """The procedure a row describes, in memory only."""
    procedure = existing or ProcedureType()
    for name, value in fields.items():
        setattr(procedure, name, value)
    return procedure


@transaction.atomic
def _start(import_id: int) -> CatalogImport | None:
    job = CatalogImport.objects.select_for_update().filter(pk=import_id, status=CatalogImport.Status.QUEUED).first()
    if job is None:
        return None
    job.status, job.started_at = CatalogImport.Status.RUNNING, timezone.now()
    attribute(job, job_actor(job), "started")
    job.save()
    return job


@transaction.atomic
def _finish(job: CatalogImport, counts: dict, status: str, error: str = "") -> CatalogImport:
    for name, value in counts.items():
        setattr(job, name, value)
    job.status, job.error, job.finished_at = status, error, timezone.now()
    attribute(job, job_actor(job), "imported" if status == CatalogImport.Status.DONE else "failed")
    job.save()
    log.info(
        "Catalog import %s %s: %s created, %s updated, %s refused",
        job.pk,
        status,
        job.created_count,
        job.updated_count,
        len(job.errors),
    )
    return job


# --- reads -----------------------------------------------------------------------------------------------------


def catalog_imports_recent() -> QuerySet[CatalogImport]:
    """Catalog imports, newest first."""
    return CatalogImport.objects.select_related("created_by").order_by("-created_at", "-id")
