"""Text for people: folding for search (case- and accent-insensitive keys that match what people type at a desk),
and person names in components."""

import unicodedata

# Letters that Unicode does not decompose into a base letter and a mark (\u0131 is the dotless i).
_SPECIAL = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i", "ŀ": "l"}
)


def fold(text: str) -> str:
    """Lower-case, strip accents, collapse white space: "  Øster-MÜLLER " -> "oster-muller"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.translate(_SPECIAL).split())


# A person's name in components, in DICOM PN / HL7 XPN component order after the family name.
NAME_PARTS = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix")


def person_name(family: str, given: str = "", middle: str = "", prefix: str = "", suffix: str = "") -> str:
    """A DICOM PN value from components: ("Müller", "Jürgen") -> "Müller^Jürgen" (trailing empty ones dropped)."""
    return "^".join((family, given, middle, prefix, suffix)).rstrip("^")
