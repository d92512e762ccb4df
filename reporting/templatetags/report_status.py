"""Template tags showing an exam's report status and its PDF link, without the report's text.

{% load report_status %}
{% report_statuses exams as statuses %}          (one query for the whole list)
{% for exam in exams %} ... {% report_status exam statuses %} ... {% endfor %}
"""

from django import template

from reporting.status import ReportStatus, report_status_for

register = template.Library()


@register.simple_tag
def report_statuses(exams) -> dict[int, ReportStatus]:
    return report_status_for(exams)


@register.inclusion_tag("reporting/_report_status.html")
def report_status(exam, statuses: dict[int, ReportStatus] | None = None) -> dict:
    """The status and PDF link of `exam`, looked up in `statuses` (or queried alone when none is given)."""
    statuses = statuses if statuses is not None else report_status_for([exam])
    return {"exam": exam, "report_status": statuses.get(exam.pk) or ReportStatus("", False)}
