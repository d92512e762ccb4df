"""{% load protocols %} {% exam_protocol exam %}: an exam's protocol, contrast and notes on the technologist's pages
(compact=True for a worklist cell). Reads exam.protocol: a list selects it with select_related("protocol__protocol").
"""

from django import template

register = template.Library()


@register.inclusion_tag("clinical/_exam_protocol.html")
def exam_protocol(exam, compact: bool = False):
    return {
        "protocol": getattr(exam, "protocol", None),  # the reverse one-to-one raises an AttributeError when missing
        "needs_protocol": exam.procedure_type.needs_protocol,
        "compact": compact,
    }
