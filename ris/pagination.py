"""How every list page is paged: RIS_PAGE_SIZE rows a page, the page named by a GET parameter, links that keep the
page's other GET parameters (its filters), and a count that stops past RIS_PAGE_COUNT_LIMIT rows.

Counting every row of a million-row table costs more than the page it serves (PostgreSQL reads all of them): the
count reads at most RIS_PAGE_COUNT_LIMIT rows past the start of the page asked for, and the page then says "more
than N". A page number that is not a number, or past the last page, shows the first or the last page with a note
saying so; it is never an error.
"""

from functools import cached_property

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

# Larger page numbers are not pages: they would only make the count read the whole table.
MAX_PAGE_NUMBER = 1_000_000


class ListPaginator(Paginator):
    """A Paginator whose count of a QuerySet stops after `count_limit` rows (None: an exact count)."""

    def __init__(self, object_list, per_page: int, *, count_limit: int | None = None, count: int | None = None):
        super().__init__(object_list, per_page)
        self.count_limit = count_limit
        self._known_count = count

    @cached_property
    def count(self) -> int:
        if self._known_count is not None:
            return self._known_count
        rows = self.object_list
        if self.count_limit is not None and isinstance(rows, QuerySet):
            # Any count_limit + 1 rows tell that there are more: no ORDER BY, so no sort under the LIMIT.
            found = rows.order_by()[: self.count_limit + 1].count()
            self.exact = found <= self.count_limit
            return found
        return super().count

    # Whether `count` is every row (else the rows go on past it); set False by a count that stopped.
    exact = True


def _number(raw: str | None) -> int | None:
    try:
        number = int(raw or "")
    except ValueError:
        return None
    return number if 1 <= number <= MAX_PAGE_NUMBER else None


def paginate(request, rows, *, param: str = "page", count: int | None = None) -> Page:
    """The page of `rows` (a QuerySet, or any sequence with count() or len()) that `request.GET[param]` names.

    The page carries what templates/includes/pagination.html shows: `note` (why another page than the one asked
    for is shown), and the links `first_url`, `previous_url`, `next_url`, `last_url` (None where there is none),
    each the request's query string with only `param` changed. `count`: the number of rows, when the view knows it.
    """
    per_page = settings.RIS_PAGE_SIZE
    raw = request.GET.get(param)
    wanted = _number(raw)
    limit = max(settings.RIS_PAGE_COUNT_LIMIT, (wanted or 1) * per_page)
    paginator = ListPaginator(rows, per_page, count_limit=limit, count=count)
    page = paginator.get_page(wanted or 1)
    page.note = ""
    if raw not in (None, "") and wanted is None:
        page.note = f"There is no page {raw[:20]!r}: showing page 1."
    elif wanted is not None and wanted != page.number:
        page.note = f"There is no page {wanted}: showing the last page, {page.number}."

    def url(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    last = paginator.num_pages
    page.first_url = url(1) if page.number > 2 else None
    page.previous_url = url(page.number - 1) if page.has_previous() else None
    page.next_url = url(page.number + 1) if page.has_next() else None
    page.last_url = url(last) if paginator.exact and page.number < last - 1 else None
    return page
