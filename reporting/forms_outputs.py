"""Forms of the critical results list."""

from django import forms

from reporting.models import CriticalResult


class CriticalFlagForm(forms.Form):
    """Flag a critical finding on a report (ACR categories)."""

    category = forms.ChoiceField(choices=[("", "—"), *CriticalResult.Category.choices])
    description = forms.CharField(max_length=200, label="Critical finding")


class CriticalNotifyForm(forms.Form):
    """Who was told of a critical result, how and when (field names as the service's errors name them)."""

    notified_person = forms.CharField(label="Person notified", max_length=150)
    notification_method = forms.ChoiceField(label="Method", choices=[("", "—"), *CriticalResult.Method.choices])
    notified_at = forms.DateTimeField(
        label="Time",
        required=False,
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class CriticalCloseForm(forms.Form):
    """No fields: it carries the service's refusal to close back to the page."""
