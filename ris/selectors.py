"""Reads of the core domain."""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ris.models import AccessRecord, IdentifierSequence, Patient, ProcedureType, Role, Room
from ris.search import patients_named_by
from ris.text import fold, search_fold


def core_counts() -> dict[str, int]:
    return {
        "patients": Patient.objects.filter(merged_into__isnull=True).count(),
        "procedure_types": ProcedureType.objects.filter(active=True).count(),
    }


def sequence_last(name: str) -> int:
    """The last value the named identifier sequence handed out (0 before its first): on PostgreSQL its database
    sequence's (ris.services.sequence_take), elsewhere its IdentifierSequence row's."""
    from ris.services import SEQUENCE_PREFIX  # (the services import the selectors)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)::text", [f"{SEQUENCE_PREFIX}{name}"])
            sequence = cursor.fetchone()[0]
            if sequence is not None:
                cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (from the catalog)
                value, called = cursor.fetchone()
                return value if called else value - 1
    row = IdentifierSequence.objects.filter(name=name).first()
    return row.last_value if row else 0


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


def _name_words(text: str) -> list[tuple[str, str]]:
    """Each word of `text` as its two search keys: (fold, search_fold) - "Müller" -> ("muller", "muller")."""
    return [(fold(word), search_fold(word)) for word in text.split() if search_fold(word)]


def _word_matches(plain: str, translit: str) -> Q:
    # The transliterated key finds mueller/muller/Müller and odegaard/Ødegård; the plain key keeps every fragment
    # that a digraph fold would cut ("er" of Bauer, stored "baur"). Both have a trigram index on PostgreSQL.
    return Q(search_translit__contains=translit) | Q(search_name__contains=plain)


def patient_name_matches(text: str) -> Q:
    """Every word of `text` a fragment of the patient's names, in any order, ignoring case, accents,
    transliteration (ü = ue = u, ø = oe = o, å = aa = a, ß = ss), apostrophes and hyphens (over the folded keys
    search_translit and search_name and, on PostgreSQL, their trigram indexes)."""
    condition = Q()
    for plain, translit in _name_words(text):
        condition &= _word_matches(plain, translit)
    return condition


# An MRN prefix shorter than this would match most of the register.
MRN_PREFIX_MIN = 3


def _identifier_matches(token: str) -> Q:
    """One typed token as an identifier: the start of an MRN (as typed, in capitals or in small letters), or an
    accession number any app registered a lookup for (ris.search)."""
    spellings = {token, token.upper(), token.lower()}
    if len(token) >= MRN_PREFIX_MIN:
        condition = Q()
        for spelling in spellings:
            condition |= Q(mrn__startswith=spelling)
    else:
        condition = Q(mrn__in=spellings)
    named = patients_named_by(token)
    if named:
        condition |= Q(pk__in=sorted(named))
    return condition


def patient_search(query: str, *, limit: int = 50) -> list[Patient]:
    """Patients (not merged away) matching every word of `query` (patient_search_condition), at most `limit`: the
    one search of the patient page and the API."""
    return list(patient_search_queryset(query)[:limit])


def patient_search_queryset(query: str) -> QuerySet[Patient]:
    """Patients (not merged away) matching every word of `query` (patient_search_condition), alphabetically."""
    if not query.split():
        return Patient.objects.none()
    patients = Patient.objects.filter(patient_search_condition(query), merged_into__isnull=True)
    words = _name_words(" ".join(token for token in query.split() if _as_date(token) is None))
    # Both orders are alphabetical; they differ in the plan PostgreSQL picks. With a word of 3+ characters the
    # trigram indexes find the matches (search_name has no b-tree, so the sort cannot tempt the planner into
    # walking a name index and filtering 100,000 rows for a rare fragment). Shorter words match too many rows
    # for trigrams to help: walking the (family_name, given_name) index in order stops after `limit` matches.
    if any(min(len(plain), len(translit)) >= 3 for plain, translit in words):
        ordering = ("search_name", "birth_date", "id")
    else:
        ordering = ("family_name", "given_name", "birth_date", "id")
    return patients.order_by(*ordering)


def patient_search_condition(query: str) -> Q:
    """What a patient matches for `query`: every word of it.

    A word that is a date (2026-01-31, 31.01.2026, 01/31/2026) matches the birth date; any other word matches a
    fragment of the names, in any order, ignoring case, accents and transliteration ("mull jur" and "muell juer"
    find Müller^Jürgen, "oconnor" O'Connor); a query of one word also matches the start of an MRN and an
    accession number. Each part is served by an index on PostgreSQL.
    """
    tokens = query.split()
    dates = [d for d in map(_as_date, tokens) if d is not None]
    text = " ".join(token for token in tokens if _as_date(token) is None)
    condition = patient_name_matches(text)
    if len(tokens) == 1 and not dates:
        condition = (condition if _name_words(text) else Q(pk__in=[])) | _identifier_matches(tokens[0])
    for birth_date in dates:
        condition &= Q(birth_date=birth_date)
    return condition


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
    return patients_by_mrn(mrn, issuer).first()


def patients_by_mrn(mrn: str, issuer: str = "") -> QuerySet[Patient]:
    """patient_by_mrn's query (at most one row), for a caller that reads more beside it."""
    return Patient.objects.filter(mrn=mrn, mrn_issuer=mrn_issuer(issuer))


def mrn_issuer(issuer: str) -> str:
    """The issuing authority an MRN is stored under: the one given, else the RIS's own (RIS_MRN_ISSUER)."""
    return issuer or settings.RIS_MRN_ISSUER


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
