"""Reads of the core domain."""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ris.models import AccessRecord, Patient, ProcedureType, Role, Room
from ris.text import fold


def core_counts() -> dict[str, int]:
    return {
        "patients": Patient.objects.filter(merged_into__isnull=True).count(),
        "procedure_types": ProcedureType.objects.filter(active=True).count(),
    }


def role_member_counts() -> list[tuple[str, int]]:
    groups = Group.objects.filter(name__in=Role.labels).annotate(members=Count("user", filter=Q(user__is_active=True)))
    counts = dict(groups.values_list("name", "members"))
    return [(label, counts.get(label, 0)) for label in Role.labels]


def rooms_active() -> QuerySet[Room]:
    return Room.objects.filter(active=True).select_related("modality", "facility").prefetch_related("opening_hours")


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y")


def _as_date(token: str) -> date | None:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(token, pattern).date()
        except ValueError:
            continue
    return None


def patient_name_matches(text: str) -> Q:
    """Every word of `text` a fragment of the patient's names, in any order, ignoring case and accents (over the
    folded search_name and, on PostgreSQL, its trigram index)."""
    condition = Q()
    for word in fold(text).split():
        condition &= Q(search_name__contains=word)
    return condition


def patient_search(query: str, *, limit: int = 50) -> list[Patient]:
    """Patients (not merged away) matching every word of `query`.

    A word that is a date (2026-01-31, 31.01.2026, 01/31/2026) matches the birth date; any other word matches a
    fragment of the names, in any order, ignoring case and accents ("mull jur" finds Müller^Jürgen); a query of
    one word also matches an MRN exactly.
    """
    tokens = query.split()
    if not tokens:
        return []
    dates = [d for d in map(_as_date, tokens) if d is not None]
    words = [fold(token) for token in tokens if _as_date(token) is None]
    condition = patient_name_matches(" ".join(words))
    if len(tokens) == 1 and not dates:
        condition |= Q(mrn__in={tokens[0], tokens[0].upper(), tokens[0].lower()})
    for birth_date in dates:
        condition &= Q(birth_date=birth_date)
    patients = Patient.objects.filter(condition, merged_into__isnull=True)
    # Both orders are alphabetical; they differ in the plan PostgreSQL picks. With a word of 3+ characters the
    # trigram index finds the matches (search_name has no b-tree, so the sort cannot tempt the planner into
    # walking a name index and filtering 100,000 rows for a rare fragment). Shorter words match too many rows
    # for trigrams to help: walking the (family_name, given_name) index in order stops after `limit` matches.
    if any(len(word) >= 3 for word in words):
        ordering = ("search_name", "birth_date", "id")
    else:
        ordering = ("family_name", "given_name", "birth_date", "id")
    return list(patients.order_by(*ordering)[:limit])


def patient_likely_duplicates(*, family_name: str, birth_date: date | None, exclude_id: int | None = None):
    """Registered patients with the same family name (ignoring case and accents) and birth date."""
    if not family_name.strip() or birth_date is None:
        return Patient.objects.none()
    family = fold(family_name)
    duplicates = Patient.objects.filter(
        Q(search_name=family) | Q(search_name__startswith=f"{family} "),
        birth_date=birth_date,
        merged_into__isnull=True,
    )
    return duplicates.exclude(pk=exclude_id) if exclude_id else duplicates


def patient_by_mrn(mrn: str, issuer: str = "") -> Patient | None:
    """The patient an MRN names under its issuing authority (the RIS's own, RIS_MRN_ISSUER, when none is given)."""
    return Patient.objects.filter(mrn=mrn, mrn_issuer=issuer or settings.RIS_MRN_ISSUER).first()


def access_records(
    *, username: str = "", mrn: str = "", date_from: date | None = None, date_to: date | None = None
) -> QuerySet[AccessRecord]:
    """The PHI access log, newest first: by user (exact username), by patient (MRN, with the records the patient
    had before a merge) and by day (the department's local days, both ends included)."""
    records = AccessRecord.objects.all()
    if username:
        records = records.filter(username=username)
    if mrn:
        patients = Patient.objects.filter(Q(mrn=mrn) | Q(merged_into__mrn=mrn)).values("pk")
        records = records.filter(patient_id__in=patients)
    if date_from:
        records = records.filter(at__gte=_local_midnight(date_from))
    if date_to:
        records = records.filter(at__lt=_local_midnight(date_to + timedelta(days=1)))
    return records.order_by("-at", "-id")


def patients_by_pk(pks) -> dict[int, Patient]:
    return Patient.objects.in_bulk(set(pks))


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
