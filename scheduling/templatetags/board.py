"""Template tags for the schedule board: a busy week is thousands of blocks, printed here in one pass each.

Only the texts that come from data (names, procedure, status label) are escaped (html.escape); the class,
URL, time and offsets are built by scheduling.board from ids, numbers and fixed strings.
"""

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


def _day_block(b) -> str:
    classes = f"block {b.status_class}{' compact' if b.compact else ''}{' movable' if b.movable else ''}"
    drag = f' draggable="true" data-exam="{b.pk}" data-name="{escape(b.name)}"' if b.movable else ""
    style = (
        f"top: {b.top:.3f}%; height: {b.height:.3f}%; "
        f"left: calc({b.left:.3f}% + .15rem); width: calc({b.width:.3f}% - .3rem)"
    )
    return (
        f'<a class="{classes}" style="{style}" href="{b.url}" title="{escape(b.title)}"{drag}>'
        f"<b>{b.time}</b> {escape(b.name)} · {escape(b.procedure)} · <em>{escape(b.status_label)}</em></a>"
    )


@register.simple_tag
def day_blocks(blocks):
    """The positioned blocks of one day column; each names itself in full in its title (short ones print one
    line), and those the user may move carry what a drop needs (static/js/board.js)."""
    return mark_safe("\n".join(_day_block(b) for b in blocks))  # noqa: S308  (data texts escaped in _day_block)


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
