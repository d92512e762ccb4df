"""{% load workitems %} {% exam_workitem exam %}: the exam as a UPS workitem (UPS-RS), on the exam page: its UID,
state and who claimed it. Nothing when no UPS client has seen the exam."""

from django import template
from django.utils import timezone

from worklist.models import Workitem
from worklist.ups import IN_PROGRESS, UPS_STATE, parse_dt, performed_times

register = template.Library()


@register.inclusion_tag("worklist/_exam_workitem.html")
def exam_workitem(exam) -> dict:
    item = Workitem.objects.filter(exam_id=exam.pk).first()
    if item is None:
        return {"workitem": None}
    state = UPS_STATE.get(exam.status, "SCHEDULED")
    start, end = (parse_dt(text, timezone.get_current_timezone()) for text in performed_times(item.attributes))
    return {
        "workitem": item,
        "state": state,
        "transaction_open": state == IN_PROGRESS and bool(item.transaction_uid),
        "performed_start": start,
        "performed_end": end,
    }
