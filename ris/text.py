"""Text for people: folding for search (case- and accent-insensitive keys that match what people type at a desk),
and person names in components."""

import re
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


# Transliteration as people type names on an English keyboard (DIN 5007-2 for German, the Nordic customs for
# the others); letters not named here lose their accents (é -> e, ł -> l).
_TRANSLITERATION = str.maketrans({"ü": "ue", "ö": "oe", "ä": "ae", "ø": "oe", "å": "aa", "æ": "ae", "œ": "oe"})
# Marks people leave out or type differently: O'Connor = OConnor = O Connor, Smith-Jones = Smith Jones.
_IGNORED = re.compile(r"[\s'\u2019\u02bc`\u00b4.\-\u2010\u2011\u2013]+")
# Each transliterated digraph and its plain letter fold to one key: mueller = muller = Müller, odegaard = Ødegård.
_DIGRAPH = re.compile(r"ue|oe|ae|aa")


def search_fold(text: str) -> str:
    """A compact search key: transliterated, lower-case, accents, apostrophes, hyphens and spaces dropped, and
    ue/oe/ae/aa folded to u/o/a/a: "Müller", "Mueller" and "muller" -> "muller"; "Ødegård" -> "odegard"."""
    transliterated = unicodedata.normalize("NFC", text.casefold()).translate(_TRANSLITERATION)
    compact = _IGNORED.sub("", fold(transliterated))
    return _DIGRAPH.sub(lambda digraph: digraph.group()[0], compact)


# A person's name in components, in DICOM PN / HL7 XPN component order after the family name.
NAME_PARTS = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix")


def person_name(family: str, given: str = "", middle: str = "", prefix: str = "", suffix: str = "") -> str:
    """A DICOM PN value from components: ("Müller", "Jürgen") -> "Müller^Jürgen" (trailing empty ones dropped)."""
    return "^".join((family, given, middle, prefix, suffix)).rstrip("^")
