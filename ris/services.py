"""Writes of the core domain. Every change to a patient goes through here, in a transaction, with its actor."""

import logging
import re
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from ris import outbox
from ris.audit import Actor, actor_label, attribute
from ris.exceptions import ApplicationError
from ris.merging import merge_steps_run
from ris.models import Coverage, IdentifierSequence, OutboxEvent, Patient, Payer, ProcedureType, ReferringPhysician
from ris.models.catalog import PROTOCOLED_MODALITIES
from ris.text import NAME_PARTS
from ris.validators import local_today

log = logging.getLogger(__name__)

PATIENT_FIELDS = frozenset(
    {
        "family_name",
        "given_name",
        "middle_name",
        "name_prefix",
        "name_suffix",
        "birth_date",
        "sex",
        "street",
        "city",
        "state",
        "postal_code",
        "country",
        "phone",
        "email",
        "self_pay",
    }
)


def sequence_next_value(name: str) -> int:
    """Advance the named sequence and return its new value; never returns a value twice."""
    return sequence_take({name: 1})[name][0]


def sequence_take(counts: dict[str, int], *, keys: dict[type[models.Model], int] | None = None) -> dict:
    """Take `count` new values of each named sequence, in the caller's transaction: each name's values, ascending
    (none for a count of 0). No value is ever handed out twice.

    On PostgreSQL each name is a database sequence (`nextval`), all of them in one statement: no row lock is held
    until the caller commits, so concurrent orders (four CIS connections, the front desk) never queue behind each
    other for their numbers; the price is a gap where a transaction that took values rolls back, as every
    database-sequence numbering has. Elsewhere (SQLite writes one transaction at a time) the IdentifierSequence
    row is advanced under its lock, and a rolled-back transaction's values are taken again by the next.

    keys: primary keys of new rows taken in the same statement, under the model as key (on PostgreSQL; elsewhere
    none: the rows get theirs when inserted). Rows that carry their keys are inserted without waiting for the
    database to return them (`ris.inserts.insert`).
    """
    wanted = sorted((name, count) for name, count in counts.items() if count > 0)
    taken: dict = {name: [] for name in counts} | {model: [] for model in keys or {}}
    for name, _count in wanted:
        if not SEQUENCE_NAME.fullmatch(name):
            raise ValueError(f"identifier sequence name {name!r}: lower-case letters, digits and _ only")
    if connection.vendor == "postgresql":
        parts = [(name, f"{SEQUENCE_PREFIX}{name}", count) for name, count in wanted]
        for name, _count in wanted:
            _sequence_ensure(name)
        for model, count in (keys or {}).items():
            if count > 0:
                parts.append((model, _key_sequence(model), count))
        if not parts:
            return taken
        # One text for any counts (prepared once): each part's position, its sequence, how many values.
        sql = " UNION ALL ".join(["SELECT %s::int, nextval(%s::regclass) FROM generate_series(1, %s)"] * len(parts))
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for index, (_key, *part) in enumerate(parts) for value in (index, *part)])
            for index, value in cursor.fetchall():
                taken[parts[index][0]].append(value)
        return {key: sorted(values) for key, values in taken.items()}
    if not wanted:
        return taken
    table = connection.ops.quote_name(IdentifierSequence._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    rows = ", ".join(["(%s, %s, %s)"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(  # one multi-row upsert that increments and returns; rows locked in name order
            f"INSERT INTO {table} (name, last_value, updated_at) VALUES {rows} "  # noqa: S608 (our table name)
            f"ON CONFLICT (name) DO UPDATE SET last_value = {table}.last_value + excluded.last_value, "
            "updated_at = excluded.updated_at RETURNING name, last_value",
            [value for name, count in wanted for value in (name, count, now)],
        )
        last = dict(cursor.fetchall())
    for name, count in wanted:
        taken[name] = list(range(last[name] - count + 1, last[name] + 1))
    return taken


_key_sequences: dict[tuple[str, type], str] = {}


def _key_sequence(model: type[models.Model]) -> str:
    """The PostgreSQL sequence behind `model`'s auto primary key (its identity column's), looked up once."""
    key = (connection.settings_dict["NAME"], model)
    if key not in _key_sequences:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column])
            _key_sequences[key] = cursor.fetchone()[0]
    return _key_sequences[key]


SEQUENCE_PREFIX = "ris_identifier_"  # the PostgreSQL sequence of identifier name N is ris_identifier_N
SEQUENCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_sequences_known: set[tuple[str, str]] = set()  # (database, name) of sequences seen to exist by this process


def _sequence_ensure(name: str) -> None:
    """The PostgreSQL sequence of `name` exists: created at its first use, continuing after the IdentifierSequence
    row of the same name (an installation numbered by the table before keeps its numbers), with a row of that name
    for the admin's list. The migration creates those of the names in use; this is for a new name."""
    key = (connection.settings_dict["NAME"], name)
    if key in _sequences_known:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{SEQUENCE_PREFIX}{name}"])
        if not cursor.fetchone()[0]:
            _sequence_create(cursor, name)
    _sequences_known.add(key)


def _sequence_create(cursor, name: str) -> None:
    """Create the PostgreSQL sequence of `name` after its table row's value (and the row, if missing)."""
    table = connection.ops.quote_name(IdentifierSequence._meta.db_table)
    cursor.execute(
        f"INSERT INTO {table} (name, last_value, updated_at) VALUES (%s, 0, now()) "  # noqa: S608 (our table name)
        f"ON CONFLICT (name) DO NOTHING",
        [name],
    )
    cursor.execute(f"SELECT last_value FROM {table} WHERE name = %s", [name])  # noqa: S608 (our table name)
    start = cursor.fetchone()[0] + 1
    cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE_PREFIX}{name} START WITH {int(start)}")


def identifier_format(name: str, pattern: str, value: int, *, max_length: int) -> str:
    """Value `value` of sequence `name` formatted with `pattern` ({seq}, {date}); refused when it does not fit."""
    identifier = pattern.format(seq=value, date=local_today())
    if len(identifier) > max_length:
        raise ApplicationError(
            f"The {name} pattern {pattern!r} produced {identifier!r}, longer than {max_length} characters; "
            "shorten the pattern in the settings."
        )
    return identifier


def identifier_next(name: str, pattern: str, *, max_length: int) -> str:
    """Format the next value of sequence `name` with `pattern` ({seq}, {date}); refuse one that does not fit."""
    return identifier_format(name, pattern, sequence_next_value(name), max_length=max_length)


def validated_or_raise(instance, *, exclude: list[str] | None = None, database_checks: bool = True) -> None:
    """Run the model's field validators and constraints; raise them as one ApplicationError (the first problem as
    its message, every problem in extra["errors"]).

    database_checks=False skips the uniqueness and constraint checks that need queries, for a caller that lets the
    database hold them and turns its IntegrityError into a clear message.
    """
    if not database_checks:  # a foreign key's existence is a query too
        exclude = [*(exclude or []), *(f.name for f in instance._meta.fields if f.is_relation)]
    try:
        instance.full_clean(exclude=exclude, validate_unique=database_checks, validate_constraints=database_checks)
    except ValidationError as error:
        every = [
            ("" if field == "__all__" else f"{field.replace('_', ' ')}: ") + " ".join(messages)
            for field, messages in error.message_dict.items()
        ]
        field = next(iter(error.message_dict))
        raise ApplicationError(  # the first for a form's field; all of them for a caller that lists them (imports)
            every[0], field=None if field == "__all__" else field, extra={"errors": every}
        ) from None


@transaction.atomic
def patient_register(
    *,
    family_name: str,
    acting_user: Actor,
    mrn: str = "",
    mrn_issuer: str = "",
    **fields,
) -> Patient:
    """Register a patient; the RIS assigns the MRN when none is given."""
    unknown = set(fields) - PATIENT_FIELDS
    if unknown:
        raise ApplicationError(f"Unknown patient fields: {', '.join(sorted(unknown))}.")
    issuer = mrn_issuer or settings.RIS_MRN_ISSUER
    if not mrn:
        mrn = identifier_next("mrn", settings.RIS_MRN_PATTERN, max_length=64)
    patient = Patient(mrn=mrn.strip(), mrn_issuer=issuer, family_name=family_name.strip(), **fields)
    validated_or_raise(patient)
    attribute(patient, acting_user)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:
        raise ApplicationError(f"MRN {patient.mrn} is already registered under issuer {issuer}.", field="mrn") from None
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, acting_user: Actor, reason: str = "", **changes) -> Patient:
    """Change a patient's demographics; the history row keeps what it was."""
    unknown = set(changes) - PATIENT_FIELDS
    if unknown:
        raise ApplicationError(f"These patient fields cannot be changed here: {', '.join(sorted(unknown))}.")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.is_merged:
        raise ApplicationError("This record was merged into another; edit the surviving record instead.")
    before = {name: getattr(patient, name) for name in changes}
    for name, value in changes.items():
        setattr(patient, name, value)
    validated_or_raise(patient)  # (cleans the values too: compared as they are stored)
    changed = sorted(name for name in changes if getattr(patient, name) != before[name])
    attribute(patient, acting_user, reason)
    patient.save()
    if changed:  # IHE RAD-12: interfaces/ sends ADT^A08 to the peers that follow patients
        outbox_add(
            kind="patient.updated",
            acting_user=acting_user,
            patient_id=patient.pk,
            mrn=patient.mrn,
            mrn_issuer=patient.mrn_issuer,
            fields=changed,
            actor=actor_label(acting_user),
            at=timezone.now().isoformat(),
        )
    return patient


@transaction.atomic
def patient_merge(*, source: Patient, target: Patient, acting_user: Actor) -> Patient:
    """Merge `source` into `target` (HL7 ADT^A40): the source's orders move to the survivor, the source is closed;
    the records other apps keep per patient move by their registered steps (ris.merging)."""
    if source.pk == target.pk:
        raise ApplicationError("A patient cannot be merged into itself.")
    source, target = (Patient.objects.select_for_update().get(pk=p.pk) for p in (source, target))
    if target.is_merged:
        raise ApplicationError("The surviving record was itself merged; merge into its survivor instead.")
    if source.is_merged:
        raise ApplicationError("This record was already merged.")
    source.merged_into = target
    attribute(source, acting_user, f"merged into {target.mrn_issuer}/{target.mrn}")
    source.save()
    for order in source.orders.all():
        order.patient = target
        attribute(order, acting_user, "patient merge")
        order.save(update_fields=["patient", "updated_at"])
    merge_steps_run(source=source, target=target, acting_user=acting_user)  # what other apps keep per patient
    # IHE RAD-12: interfaces/ sends ADT^A40 (the PACS merges its records too); identifiers only, no names.
    outbox_add(
        kind="patient.merged",
        acting_user=acting_user,
        patient_id=target.pk,
        mrn=target.mrn,
        mrn_issuer=target.mrn_issuer,
        prior_patient_id=source.pk,
        prior_mrn=source.mrn,
        prior_mrn_issuer=source.mrn_issuer,
        actor=actor_label(acting_user),
        at=timezone.now().isoformat(),
    )
    return target


SUBSCRIBER_FIELDS = ("subscriber_family_name", "subscriber_given_name", "subscriber_birth_date", "subscriber_sex")
# What the front desk enters of a coverage, in the order the page and the API show it; `active` is the service's.
COVERAGE_ENTERED = (
    "payer",
    "member_id",
    "group_number",
    "priority",
    "relationship",
    *SUBSCRIBER_FIELDS,
    "effective_from",
    "effective_to",
)
COVERAGE_FIELDS = frozenset({*COVERAGE_ENTERED, "active"})


def _coverage_checked(coverage: Coverage) -> None:
    """Validate a coverage as a claim needs it: the insured person (X12 837P loop 2010BA) is named, born and sexed
    when it is not the patient; a self-insured coverage keeps no other subscriber."""
    coverage.member_id = coverage.member_id.strip()
    if coverage.relationship == Coverage.Relationship.SELF:
        for name in SUBSCRIBER_FIELDS:
            setattr(coverage, name, None if name == "subscriber_birth_date" else "")
    else:
        coverage.subscriber_family_name = coverage.subscriber_family_name.strip()
        coverage.subscriber_given_name = coverage.subscriber_given_name.strip()
        missing = [
            label
            for name, label in (
                ("subscriber_family_name", "family name"),
                ("subscriber_given_name", "given name"),
                ("subscriber_birth_date", "birth date"),
                ("subscriber_sex", "sex"),
            )
            if not getattr(coverage, name)
        ]
        if missing:
            raise ApplicationError(
                f"The insured is not the patient: give the insured's {', '.join(missing)}.",
                field=f"subscriber_{missing[0].replace(' ', '_')}",
            )
    validated_or_raise(coverage)


def _coverage_changed(coverage: Coverage, acting_user: Actor, change: str) -> None:
    """Tell the apps downstream (billing re-validates the patient's held claims) in this transaction."""
    outbox_add(
        kind="coverage.changed",
        acting_user=acting_user,
        patient_id=coverage.patient_id,
        coverage_id=coverage.pk,
        change=change,
        actor=actor_label(acting_user),
        at=timezone.now().isoformat(),
    )


@transaction.atomic
def coverage_add(
    *,
    patient: Patient,
    payer: Payer,
    member_id: str,
    acting_user: Actor,
    priority: str = Coverage.Priority.PRIMARY,
    group_number: str = "",
    relationship: str = Coverage.Relationship.SELF,
    subscriber_family_name: str = "",
    subscriber_given_name: str = "",
    subscriber_birth_date: date | None = None,
    subscriber_sex: str = "",
    effective_from: date | None = None,
    effective_to: date | None = None,
) -> Coverage:
    """Add an insurance coverage; an active one of the same priority is ended (the patient changed insurer)."""
    if Patient.objects.filter(pk=patient.pk, merged_into__isnull=False).exists():
        raise ApplicationError("This record was merged into another; add the insurance to the surviving record.")
    coverage = Coverage(
        patient=patient,
        payer=payer,
        member_id=member_id,
        priority=priority,
        group_number=group_number.strip(),
        relationship=relationship,
        subscriber_family_name=subscriber_family_name,
        subscriber_given_name=subscriber_given_name,
        subscriber_birth_date=subscriber_birth_date,
        subscriber_sex=subscriber_sex,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    for previous in Coverage.objects.select_for_update().filter(patient=patient, priority=priority, active=True):
        previous.active = False
        attribute(previous, acting_user, "replaced by a new coverage")
        previous.save(update_fields=["active", "updated_at"])
    _coverage_checked(coverage)  # (a refusal rolls the replacement back with it)
    attribute(coverage, acting_user)
    coverage.save()
    _coverage_changed(coverage, acting_user, "added")
    return coverage


@transaction.atomic
def coverage_update(*, coverage: Coverage, acting_user: Actor, **changes) -> Coverage:
    """Correct a coverage's details; the history row keeps what it was."""
    unknown = set(changes) - COVERAGE_FIELDS
    if unknown:
        raise ApplicationError(f"These coverage fields cannot be changed: {', '.join(sorted(unknown))}.")
    coverage = Coverage.objects.select_for_update().get(pk=coverage.pk)
    for name, value in changes.items():
        setattr(coverage, name, value)
    _coverage_checked(coverage)
    attribute(coverage, acting_user)
    coverage.save()
    _coverage_changed(coverage, acting_user, "updated")
    return coverage


@transaction.atomic
def coverage_end(*, coverage: Coverage, acting_user: Actor, ended_on: date | None = None) -> Coverage:
    """End a coverage on `ended_on` (today by default): services after that day are not billed to it; those
    before it still are."""
    coverage = Coverage.objects.select_for_update().get(pk=coverage.pk)
    if not coverage.active:
        raise ApplicationError("This coverage was already replaced or removed.")
    ended_on = ended_on or local_today()
    if coverage.effective_from and ended_on < coverage.effective_from:
        raise ApplicationError(
            f"The coverage starts on {coverage.effective_from:%Y-%m-%d}: it cannot end before that.", field="ended_on"
        )
    coverage.effective_to = ended_on
    validated_or_raise(coverage)  # (not the insured's details: a coverage entered without them still ends)
    attribute(coverage, acting_user, f"ended on {ended_on:%Y-%m-%d}")
    coverage.save()
    _coverage_changed(coverage, acting_user, "ended")
    return coverage


def outbox_add(*, kind: str, acting_user: Actor, **payload) -> OutboxEvent:
    """Record a change the outside world must hear of, in the caller's transaction; listeners hear now, in it
    (with who made the change), subscribers after commit."""
    event = OutboxEvent.objects.create(kind=kind, payload=payload)
    outbox.hear(kind, payload, acting_user)
    transaction.on_commit(outbox.ring)
    return event


@transaction.atomic
def procedure_type_save(*, acting_user: Actor, procedure: ProcedureType | None = None, **fields) -> ProcedureType:
    """Add a procedure to the catalog, or change one (its code, CPT code, duration, ...), validated as a whole.

    A new CT or MR procedure (PROTOCOLED_MODALITIES) needs a radiologist's protocol unless `needs_protocol` says
    otherwise."""
    procedure = procedure or ProcedureType()
    for name, value in fields.items():
        setattr(procedure, name, value)
    if procedure.pk is None and "needs_protocol" not in fields and procedure.modality_id is not None:
        procedure.needs_protocol = procedure.modality.code in PROTOCOLED_MODALITIES
    validated_or_raise(procedure)
    procedure.save()
    log.info("Procedure type %s saved by %s", procedure.pk, actor_label(acting_user))
    return procedure


def _physician_matching(key: dict[str, str] | None, names: dict[str, str]) -> ReferringPhysician | None:
    """By NPI or by (local ID, authority) when `key` is given; else by family and given name (case aside) among
    the physicians with no identifier at all."""
    if key is not None:
        return ReferringPhysician.objects.filter(**key).first()
    return (
        ReferringPhysician.objects.filter(Q(npi__isnull=True) | Q(npi=""), identifier="")
        .filter(family_name__iexact=names["family_name"], given_name__iexact=names["given_name"])
        .order_by("pk")
        .first()
    )


@transaction.atomic(savepoint=False)  # HL7 calls it on every order; a failure spoils the caller's transaction
def physician_match_or_create(
    *,
    acting_user: Actor,
    npi: str = "",
    identifier: str = "",
    authority: str = "",
    identifier_type: str = "",
    family_name: str = "",
    given_name: str = "",
    middle_name: str = "",
    name_prefix: str = "",
    name_suffix: str = "",
) -> ReferringPhysician | None:
    """The referring physician another system names (HL7 ORC-12): matched by NPI, else by its local ID within the
    ID's assigning authority, else (no ID at all) by family and given name among physicians without identifiers;
    created when none matches. None when nobody is named.

    A matched physician's name is filled in only when it had none (an ID first sent without a name): a message
    does not rename a physician the department knows.
    """
    names = dict(zip(NAME_PARTS, (family_name, given_name, middle_name, name_prefix, name_suffix), strict=True))
    names = {part: value.strip() for part, value in names.items()}
    npi, identifier, authority = npi.strip(), identifier.strip(), authority.strip()
    if npi:
        key = {"npi": npi}
    elif identifier:
        key = {"identifier": identifier, "identifier_authority": authority}
    elif names["family_name"]:
        key = None
    else:
        return None
    physician = _physician_matching(key, names)
    if physician is None:
        physician = ReferringPhysician(
            npi=npi or None,  # NULL, not "": the NPI is unique among the physicians that have one
            identifier="" if npi else identifier,
            identifier_authority="" if npi else authority,
            identifier_type="" if npi else identifier_type.strip(),
            **names,
        )
        validated_or_raise(physician, exclude=[] if names["family_name"] else ["family_name"], database_checks=False)
        attribute(physician, acting_user)
        try:
            with transaction.atomic():
                physician.save()
        except IntegrityError:  # another connection created the same NPI or ID a moment ago (now committed)
            physician = _physician_matching(key, names)
            if physician is None:
                raise
            return physician
        log.info("Referring physician %s created by %s", physician.pk, actor_label(acting_user))
        return physician
    if not physician.family_name and names["family_name"]:
        physician = ReferringPhysician.objects.select_for_update().get(pk=physician.pk)
        for part, value in names.items():
            setattr(physician, part, value)
        validated_or_raise(physician, database_checks=False)
        attribute(physician, acting_user, "name as the ordering system sent it")
        physician.save(update_fields=[*names, "updated_at"])
        log.info("Referring physician %s: name filled in by %s", physician.pk, actor_label(acting_user))
    return physician
