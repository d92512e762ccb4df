"""Template tags for the schedule board: a busy week is thousands of blocks, printed here in one pass each.

Only the texts that come from data (names, procedure, status label) are escaped (html.escape); the class,
URL, time and offsets are built by scheduling.board from ids, numbers and fixed strings.
"""

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def day_blocks(blocks):
    """The positioned blocks of one day column."""
    return mark_safe(  # noqa: S308  (data texts escaped above each use)
        "\n".join(
            f'<a class="block {b.status_class}" style="top: {b.top:.3f}%; height: {b.height:.3f}%" href="{b.url}">'
            f"<b>{b.time}</b> {escape(b.name)} · {escape(b.procedure)} · <em>{escape(b.status_label)}</em></a>"
            for b in blocks
        )
    )


@register.simple_tag
def week_cell(blocks):
    """The compact blocks of one room-day cell of the week view."""
    return mark_safe(  # noqa: S308  (data texts escaped above each use)
        "".join(
            f'<a class="block {b.status_class}" href="{b.url}" title="{escape(b.procedure)} · '
            f'{escape(b.status_label)}"><b>{b.time}</b> {escape(b.name)} · {escape(b.code)}</a>'
            for b in blocks
        )
    )
