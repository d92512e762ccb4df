"""Form pieces shared by the apps' pages."""

from django import forms
from django.forms.forms import NON_FIELD_ERRORS
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def errors_text(form: forms.Form) -> str:
    """A bound form's errors on one line, each after its field's label as the page shows it ("Template: Select a
    valid choice."): for a JSON answer or a plain-text one, where the form is not rendered."""
    parts = []
    for name, messages in form.errors.items():
        text = " ".join(messages)
        parts.append(text if name == NON_FIELD_ERRORS or name not in form.fields else f"{form[name].label}: {text}")
    return "; ".join(parts)


class DateRangeMixin:
    """`date_from` and `date_to` fields: each within a plausible span of years, the end not before the start."""

    earliest_year, latest_year = 1900, 2999

    def _clean_day(self, name: str):
        day = self.cleaned_data[name]
        if day and not self.earliest_year <= day.year <= self.latest_year:
            raise forms.ValidationError(f"Give a date between {self.earliest_year} and {self.latest_year}.")
        return day

    def clean_date_from(self):
        return self._clean_day("date_from")

    def clean_date_to(self):
        return self._clean_day("date_to")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class AccessLogFilterForm(DateRangeMixin, forms.Form):
    username = forms.CharField(label="User", max_length=150, required=False)
    mrn = forms.CharField(label="Patient MRN", max_length=64, required=False)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def criteria(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value}


def _attributes(attrs: dict) -> SafeString:
    """HTML attributes as Django's widget templates write them: `True` alone, `False` left out."""
    return mark_safe(  # noqa: S308  (each name is the code's, each value escaped)
        "".join(
            f" {name}" if value is True else format_html(' {}="{}"', name, value)
            for name, value in attrs.items()
            if value is not False
        )
    )


class QuickSelect(forms.Select):
    """A select written by Python instead of one template include per option: the same HTML as forms.Select, at a
    fraction of the cost for long lists (150 referring physicians took a third of the reading worklist's time)."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = [format_html('<select name="{}"{}>', widget["name"], _attributes(widget["attrs"]))]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            parts.extend(
                format_html(
                    '\n  <option value="{}"{}>{}</option>\n',
                    str(option["value"]),
                    _attributes(option["attrs"]),
                    option["label"],
                )
                for option in options
            )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308  (each part made by format_html above)
