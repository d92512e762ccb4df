"""QuickSelect writes the HTML Django's Select writes, without a template per option."""

import pytest
from django import forms

from ris.forms import QuickSelect

CHOICES = [
    ("", "Any"),
    ("CT", 'CT <head> & "neck"'),
    (3, "Three"),
    ("Groups", [("a", "Alpha"), ("b", "Beta's")]),
]


@pytest.mark.parametrize("value", [None, "", "CT", 3, "b", "not a choice"])
@pytest.mark.parametrize("attrs", [None, {"id": "id_f", "required": True, "disabled": False, "data-x": "1 < 2"}])
def test_quick_select_renders_what_select_renders(value, attrs):
    expected = forms.Select(choices=CHOICES).render("f", value, attrs=attrs)
    assert QuickSelect(choices=CHOICES).render("f", value, attrs=attrs) == expected


def test_a_form_field_with_quick_select_renders_as_with_select():
    class Plain(forms.Form):
        field = forms.ChoiceField(choices=CHOICES[:3], required=False)

    class Quick(forms.Form):
        field = forms.ChoiceField(choices=CHOICES[:3], required=False, widget=QuickSelect)

    assert str(Quick({"field": "CT"})["field"]) == str(Plain({"field": "CT"})["field"])
