"""Reads for radiologists: the reading worklist, an exam's report with its addenda, priors, the viewer link."""

from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from reporting.models import CriticalResult, Macro, ReadingClaim, Report, ReportTemplate
from ris.models import ProcedureType, Role
from ris.roles import user_roles
from scheduling.models import Exam, Order, Priority
from scheduling.selectors import local_day_bounds

S = Exam.Status


def claim_lapse() -> timedelta:
    """How long a reading claim lasts without a save or a renewal (RIS_READING_CLAIM_MINUTES)."""
    return timedelta(minutes=settings.RIS_READING_CLAIM_MINUTES)


def claims_live_since(now: datetime | None = None) -> datetime:
    """Claims touched at or after this time are live."""
    return (now or timezone.now()) - claim_lapse()


def claim_holders(exam_ids, *, now: datetime | None = None) -> dict[int, object]:
    """The user holding a live claim on each of `exam_ids` that has one, in one query."""
    claims = ReadingClaim.objects.filter(exam_id__in=exam_ids, last_activity__gte=claims_live_since(now))
    return {claim.exam_id: claim.user for claim in claims.select_related("user")}


def claim_holder(exam: Exam, *, now: datetime | None = None):
    """The user whose claim on the exam is live, or None."""
    return claim_holders([exam.pk], now=now).get(exam.pk)


def reading_worklist(
    *,
    user=None,
    modality: str = "",
    body_part: str = "",
    referring_physician: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    mine: bool = False,
    images_only: bool = False,
    now: datetime | None = None,
) -> "ReadingWorklist | ReadingWorklistOfFew":
    """Exams performed and not yet final: STAT first, then the oldest.

    Shaped for a backlog among a million exams: the filters on the catalog become lists of IDs (small tables),
    STAT-ness a list of exam IDs found through a partial index on STAT orders, and a page is read along the
    backlog index (exam_reading_backlog_idx), joined to the rest for the rows shown only. "Mine" (the user's live
    claims and reports not final) is a filter on that walk: the user's open reports come from their own index
    (report_open_by_author_idx), and a radiologist may hold a thousand or more of them. A referring physician
    leaves a few hundred exams at most: they are ordered from their keys in Python instead.
    `images_only`: only exams whose images the PACS announced as available.
    """
    now = now or timezone.now()
    backlog = Exam.objects.filter(status__in=[S.COMPLETED, S.PRELIMINARY])
    if modality or body_part:
        procedures = ProcedureType.objects.all()
        if modality:
            procedures = procedures.filter(modality__code=modality)
        if body_part:
            procedures = procedures.filter(body_part=body_part)
        backlog = backlog.filter(procedure_type_id__in=list(procedures.values_list("id", flat=True)))
    if date_from:
        backlog = backlog.filter(completed_at__gte=local_day_bounds(date_from)[0])
    if date_to:
        backlog = backlog.filter(completed_at__lt=local_day_bounds(date_to)[1])
    if images_only:
        backlog = backlog.filter(images_available_at__isnull=False)
    if mine and user is not None:
        backlog = backlog.filter(_mine(user, now))
    if referring_physician:
        return ReadingWorklistOfFew(_physician_keys(backlog, referring_physician))
    stat_orders = Order.objects.filter(priority=Priority.STAT).values("id")
    stat_ids = list(backlog.filter(order_id__in=stat_orders).order_by().values_list("id", flat=True))
    return ReadingWorklist(backlog, stat_ids)


def _mine(user, now: datetime) -> Q:
    """The exams of `user`'s live reading claims and of their reports not final (DRAFT or PRELIMINARY: the
    partial index report_open_by_author_idx holds exactly those, by author)."""
    claimed = ReadingClaim.objects.filter(user=user, last_activity__gte=claims_live_since(now))
    authored = Report.objects.filter(author=user).exclude(status=Report.Status.FINAL).values("exam_id")
    return Q(pk__in=authored) | Q(pk__in=list(claimed.values_list("exam_id", flat=True)))


def _physician_keys(backlog: QuerySet[Exam], referring_physician: int) -> set:
    """(id, completed_at, priority) of the waiting exams of a referring physician: a few hundred at most, read
    along the index that starts with the physician instead of the whole backlog."""
    keys = backlog.order_by().values_list("id", "completed_at", "order__priority")
    return set(keys.filter(order__referring_physician_id=referring_physician))


# What a row shows (not the report: its text is not on the list, and fetching it cost a join and its text per row).
READING_ROW_RELATED = ("order__patient", "order__referring_physician", "procedure_type__modality", "room")


def _reading_rows(ids: list[int]) -> list[Exam]:
    """The exams of `ids`, in that order, with what a worklist row shows."""
    found = Exam.objects.select_related(*READING_ROW_RELATED).in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


class ReadingWorklistOfFew:
    """The worklist when a filter leaves a few exams (a referring physician's): ordered once (STAT first,
    then the oldest) from their keys, each page then read by primary key."""

    def __init__(self, keys: set[tuple[int, datetime | None, str]]):
        oldest = datetime.min.replace(tzinfo=UTC)
        ordered = sorted(keys, key=lambda key: (key[2] != Priority.STAT, key[1] or oldest, key[0]))
        self._ids = [key[0] for key in ordered]

    def count(self) -> int:
        return len(self._ids)

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        for start in range(0, len(self._ids), 100):
            yield from _reading_rows(self._ids[start : start + 100])

    def __getitem__(self, index):
        if isinstance(index, int):
            return _reading_rows([self._ids[index]])[0]
        return _reading_rows(self._ids[index])


class ReadingWorklist:
    """STAT exams first, then the others, each oldest first: what a paginator slices, in index-friendly queries
    per page instead of one sort of all: the page's IDs from the backlog index alone (walked in order, stopped after
    the page; rows a filter such as "mine" skips are never read from the table), then those rows by primary key."""

    def __init__(self, backlog: QuerySet[Exam], stat_ids: list[int]):
        ids = backlog.values_list("id", flat=True)
        self._stat = ids.filter(pk__in=stat_ids).order_by("completed_at", "id")
        self._rest = ids.exclude(pk__in=stat_ids).order_by("completed_at", "id")
        self._stat_count = len(stat_ids)
        self._backlog = backlog
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = self._backlog.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        for start in range(0, self.count(), 500):
            yield from self[start : start + 500]

    def __getitem__(self, index):
        if isinstance(index, int):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop = index.start or 0, index.stop if index.stop is not None else self.count()
        if start < 0 or stop < 0 or index.step not in (None, 1):
            raise ValueError("The reading worklist takes plain, non-negative slices.")
        stat = self._stat_count
        ids: list[int] = []
        if start < stat:
            ids += self._stat[start : min(stop, stat)]
        if stop > stat:
            ids += self._rest[max(start - stat, 0) : stop - stat]
        return _reading_rows(ids)


# Who reads report text: radiologists and administrators every version; technologists and front desk the final
# report (as its PDF shows it); billing clerks none (they see that a final report exists, and its codes).
ALL_REPORTS = frozenset({Role.RADIOLOGIST, Role.ADMIN})
FINAL_REPORTS = frozenset({Role.TECHNOLOGIST, Role.FRONT_DESK})


def reports_visible_to(user) -> QuerySet[Report]:
    """The reports whose text `user` may read, with what a listing shows."""
    roles = user_roles(user)
    reports = Report.objects.select_related("exam__order", "author", "signed_by").prefetch_related("addenda")
    if roles & ALL_REPORTS:
        return reports
    if roles & FINAL_REPORTS:
        return reports.filter(status=Report.Status.FINAL)
    return reports.none()


def template_for(exam: Exam) -> ReportTemplate | None:
    """The template of the exam's procedure type, else of its modality."""
    templates = ReportTemplate.objects.filter(active=True)
    return (
        templates.filter(procedure_type=exam.procedure_type_id).first()
        or templates.filter(procedure_type__isnull=True, modality=exam.procedure_type.modality_id).first()
    )


def macros_for(user) -> dict[str, str]:
    """Macro texts by name: the user's own win over shared ones of the same name."""
    macros = Macro.objects.filter(Q(owner=user) | Q(owner__isnull=True)).order_by(F("owner").asc(nulls_first=True))
    return {macro.name: macro.text for macro in macros}  # shared ones first, so the user's own overwrite them


def report_of(exam: Exam) -> Report | None:
    return Report.objects.select_related("signed_by", "author", "template").filter(exam=exam).first()


def priors(exam: Exam, *, limit: int = 20) -> QuerySet[Exam]:
    """Other performed exams of the same patient (merged records followed), newest first, with their reports."""
    return (
        Exam.objects.filter(order__patient_id=exam.order.patient_id, status__in=[S.FINAL, S.AMENDED, S.PRELIMINARY])
        .exclude(pk=exam.pk)
        .select_related("procedure_type__modality", "report")
        .order_by("-completed_at", "-id")[:limit]
    )


def viewer_url(exam: Exam) -> str:
    """The PACS viewer link of RIS_VIEWER_URL_TEMPLATE ({study_uid}, {accession}); empty when none is set."""
    template = settings.RIS_VIEWER_URL_TEMPLATE
    if not template:
        return ""
    return template.format(study_uid=exam.study_instance_uid, accession=exam.accession_number)


def critical_results_open() -> QuerySet[CriticalResult]:
    """Critical results not closed yet, oldest first: the list stays visible until each is closed."""
    return (
        CriticalResult.objects.filter(closed_at__isnull=True)
        .select_related("report__exam__order__patient", "flagged_by")
        .order_by("created_at", "pk")
    )
