"""Reads of the HL7 message store: the administrators' message log, and stored messages split for display."""

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Literal

from django.db.models import CharField, F, QuerySet, Value
from hl7apy.core import Field, Segment
from hl7apy.exceptions import HL7apyException

from interfaces.models import ApplicationAck, InboundMessage, OutboundMessage
from scheduling.selectors import local_day_bounds

Direction = Literal["in", "out"]
FIELD_NAME_VERSION = "2.5.1"  # field names are those of v2.5.1 whatever version a message declares

# The columns of one log row, the same for both directions so that the two can be merged (UNION) and paginated.
LOG_COLUMNS = (
    "id",
    "created_at",
    "message_type",
    "trigger_event",
    "control_id",
    "mrn",
    "accession_number",
    "status",
    "direction",
    "peer_name",
    "application_ack_state",  # inbound: UNROUTED is an application ACK the sender never got; outbound: ""
)


# --- the message log --------------------------------------------------------------------------------------------


def message_log_search(
    *,
    direction: Direction | None = None,
    mrn: str = "",
    accession_number: str = "",
    control_id: str = "",
    message_type: str = "",
    trigger_event: str = "",
    status: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    unanswered: bool = False,
) -> QuerySet:
    """Messages received and sent, newest first, as dicts of LOG_COLUMNS; every criterion given must match.

    Identifiers match exactly; `date_from` and `date_to` are local days, both included, on the time the message was
    received (inbound) or queued (outbound). `peer_name` is the sending application or the destination's name.
    `unanswered`: only messages whose application ACK had no destination to go to (the sender never heard).
    """
    filters: dict[str, object] = {}
    if mrn:
        filters["mrn"] = mrn
    if accession_number:
        filters["accession_number"] = accession_number
    if control_id:
        filters["control_id"] = control_id
    if message_type:
        filters["message_type"] = message_type.upper()
    if trigger_event:
        filters["trigger_event"] = trigger_event.upper()
    if status:
        filters["status"] = status
    if date_from:
        filters["created_at__gte"] = local_day_bounds(date_from)[0]
    if date_to:
        filters["created_at__lt"] = local_day_bounds(date_to)[1]

    inbound_filters = {**filters, "application_ack_state": ApplicationAck.UNROUTED} if unanswered else filters
    inbound = (
        InboundMessage.objects.filter(**inbound_filters)
        .annotate(direction=Value("in", output_field=CharField()), peer_name=F("sending_application"))
        .order_by()
        .values(*LOG_COLUMNS)
    )
    outbound = (
        OutboundMessage.objects.filter(**filters)
        .annotate(
            direction=Value("out", output_field=CharField()),
            peer_name=F("destination__name"),
            application_ack_state=Value("", output_field=CharField()),
        )
        .order_by()
        .values(*LOG_COLUMNS)
    )
    # A status belongs to one direction only: the other side need not be asked.
    with_inbound = direction in (None, "in") and (not status or status in InboundMessage.Status.values)
    with_outbound = (
        direction in (None, "out") and (not status or status in OutboundMessage.Status.values) and not unanswered
    )
    if with_inbound and with_outbound:
        rows = inbound.union(outbound, all=True)
    elif with_outbound:
        rows = outbound
    else:
        rows = inbound if with_inbound else inbound.none()
    return rows.order_by("-created_at", "-direction", "-id")


# --- a stored message, segment by segment (pure: no ORM) -------------------------------------------------------

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_LOWER_WORDS = frozenset({"of", "and", "or", "the", "to", "for", "by", "in", "on", "at", "with"})


@dataclass(frozen=True)
class FieldValue:
    label: str  # "PID-5"
    name: str  # "Patient Name", or "" where the standard names none (Z segments, unknown segments)
    value: str  # as sent: components, repetitions and escapes left in place


@dataclass(frozen=True)
class SegmentView:
    segment_id: str
    fields: tuple[FieldValue, ...]


@dataclass(frozen=True)
class MessageView:
    raw: str  # the text with one segment a line
    segments: tuple[SegmentView, ...]
    problem: str  # why the text could not be split into segments and fields; "" when it could


def _humanize(long_name: str, segment_id: str) -> str:
    """hl7apy's long name for people: PATIENT_NAME -> "Patient Name", SET_ID_PID -> "Set ID PID",
    MOTHER_S_MAIDEN_NAME -> "Mother's Maiden Name".
    """
    words = long_name.replace("_S_", "'S_").split("_")
    out = []
    for position, word in enumerate(w for w in words if w):
        lower = word.lower()
        if word in ("ID", segment_id):
            out.append(word)
        elif position and lower in _LOWER_WORDS:
            out.append(lower)
        else:
            out.append(word.capitalize())
    return " ".join(out)


@cache
def segment_field_names(segment_id: str) -> dict[int, str]:
    """Field number -> name, from hl7apy's v2.5.1 structures; empty for Z segments and segments it does not know."""
    if not _SEGMENT_ID.fullmatch(segment_id) or segment_id.startswith("Z"):
        return {}
    try:
        children = Segment(segment_id, version=FIELD_NAME_VERSION).structure_by_name
        names = {}
        for child in children:  # "PID_5"
            number = int(child.rsplit("_", 1)[1])
            names[number] = _humanize(Field(child, version=FIELD_NAME_VERSION).long_name or "", segment_id)
        return names
    except (HL7apyException, ValueError, IndexError):
        return {}


def message_view(raw: str) -> MessageView:
    """Split a stored message (or ACK) into segments and numbered, named fields; never raises.

    Segments end at CR (a LF is taken as one); the field separator is MSH-1, the character after "MSH"
    (HL7 v2.5.1 2.5.4). MSH-1 is that separator itself, so MSH-2 is the first value after it.
    """
    text = raw.replace("\r\n", "\r").replace("\n", "\r")
    lines = [line for line in text.split("\r") if line.strip()]
    shown = "\n".join(lines) if lines else raw
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 4:
        return MessageView(shown, (), "The text does not start with an MSH segment, so it is shown as received.")
    separator = lines[0][3]
    if separator.isalnum() or separator.isspace():
        return MessageView(shown, (), f"MSH-1 ({separator!r}) is not a usable field separator.")
    segments = []
    for line in lines:
        parts = line.split(separator)
        segment_id = parts[0].strip()
        if segment_id == "MSH":
            numbered = [(1, separator), *((n, parts[n - 1]) for n in range(2, len(parts) + 1))]
        else:
            numbered = [(n, parts[n]) for n in range(1, len(parts))]
        names = segment_field_names(segment_id)
        fields = tuple(
            FieldValue(f"{segment_id}-{number}", names.get(number, ""), value) for number, value in numbered if value
        )
        segments.append(SegmentView(segment_id, fields))
    return MessageView(shown, tuple(segments), "")
