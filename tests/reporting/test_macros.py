"""Macro tokens: what counts as one, known ones expanded on save, and no signature over a token left in the text or
over an empty impression."""

import pytest

from reporting import services
from reporting.macros import expand_macros, macro_tokens
from reporting.models import Macro, Report
from ris.exceptions import ApplicationError
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (".normal", ["normal"]),
        ("Impression .normal", ["normal"]),
        ("see .nad-chest.\n.x2 and .Lung_1", ["nad-chest", "x2", "Lung_1"]),
        ("Nodule 3.5 cm, e.g. ... or .5 cm, i.e.", []),
        ("a.normal word and ..normal", []),
    ],
)
def test_a_token_is_a_dot_starting_a_word_then_a_name(text, tokens):
    assert macro_tokens(text) == tokens


def test_expansion_replaces_known_tokens_and_leaves_others():
    text = ".nad 3.5 cm .unknown e.g. .nad."
    assert expand_macros(text, {"nad": "No disease."}) == "No disease. 3.5 cm .unknown e.g. No disease.."


def test_a_save_expands_the_users_known_macros_left_in_the_text(exam, attending):
    Macro.objects.create(name="normal", text="No acute abnormality.")
    report = services.report_save_draft(exam=exam, user=attending, sections={"impression": "IMPRESSION .normal"})
    assert report.impression == "IMPRESSION No acute abnormality."


@pytest.mark.parametrize("sign", ["final", "preliminary"])
def test_signing_is_refused_while_an_unknown_macro_token_is_left(exam, attending, sign):
    report = services.report_save_draft(
        exam=exam, user=attending, sections={"findings": "Lungs .clearr", "impression": "Normal chest."}
    )
    signing = {
        "final": lambda: services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD),
        "preliminary": lambda: services.report_sign_preliminary(report=report, user=attending),
    }[sign]
    with pytest.raises(ApplicationError, match=r"not expanded \(Findings \.clearr\)"):
        signing()
    assert Report.objects.get().status == Report.Status.DRAFT


@pytest.mark.parametrize("impression", ["", "  \n "])
def test_signing_final_is_refused_with_an_empty_impression(exam, attending, impression):
    report = services.report_save_draft(exam=exam, user=attending, sections={"impression": impression})
    with pytest.raises(ApplicationError, match="needs an impression"):
        services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    assert Report.objects.get().status == Report.Status.DRAFT


def test_an_addendum_expands_known_macros_and_is_not_signed_with_an_unknown_one(exam, attending):
    Macro.objects.create(name="same", text="Unchanged since the prior.", owner=attending)
    report = services.report_save_draft(exam=exam, user=attending, sections={"impression": "Normal."})
    services.report_sign_final(report=report, user=attending, password=TEST_PASSWORD)
    assert services.addendum_save(report=report, user=attending, text=".same").text == "Unchanged since the prior."
    typo = services.addendum_save(report=report, user=attending, text="Compared: .sam")
    with pytest.raises(ApplicationError, match=r"not expanded: \.sam"):
        services.addendum_sign(addendum=typo, user=attending, password=TEST_PASSWORD)
