"""Shared pieces of the hypothesis tests that fuzz the forms through their views (tests/*/test_fuzz_*.py)."""

from collections.abc import Callable
from urllib.parse import urlencode

from django.db.models import Model
from hypothesis import strategies as st

# Byte-level damage to a form-encoded body: not UTF-8, a broken or NUL escape, stray separators.
JUNK = st.one_of(st.binary(max_size=6), st.sampled_from([b"%FF", b"%00", b"%", b"&", b"=", b"%C3"]))


@st.composite
def form_bodies(
    draw,
    valid: list[tuple[str, str]],
    keys: st.SearchStrategy[str],
    values: Callable[..., st.SearchStrategy[str]],
) -> bytes:
    """A form-encoded POST body: the valid pairs with fields changed, dropped, repeated or added, or random pairs;
    sometimes mangled at the byte level. `values(field)` gives the values for a field, `values()` any value."""
    if draw(st.integers(0, 3)):
        pairs = list(valid)
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(pairs)))
            change = draw(st.sampled_from(["value", "value", "drop", "repeat", "add"]))
            if change == "value" and at < len(pairs):
                pairs[at] = (pairs[at][0], draw(values(pairs[at][0])))
            elif change == "drop" and at < len(pairs):
                del pairs[at]
            elif change == "repeat" and at < len(pairs):
                pairs.insert(at, (pairs[at][0], draw(values(pairs[at][0]))))
            else:
                pairs.insert(at, (draw(keys), draw(values())))
    else:
        pairs = draw(st.lists(st.tuples(keys, values()), max_size=10))
    body = urlencode(pairs).encode()
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(body)))
        body = draw(st.sampled_from([body[:at] + draw(JUNK) + body[at:], body[:at]]))
    return body


def row_counts(models: tuple[type[Model], ...], historied: tuple[type[Model], ...]) -> dict[str, int]:
    """How many rows the tables hold, and the history tables of `historied`: equal before and after means nothing
    was written."""
    counts = {model.__name__: model.objects.count() for model in models}
    return counts | {f"{model.__name__} history": model.history.count() for model in historied}
