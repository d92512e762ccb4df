"""Country codes as the RIS stores them: ISO 3166-1 alpha-2, whatever form the sender or the front desk used.

HL7 v2.5.1 table 0399 (PID-11.6, XAD-6) is ISO 3166 alpha-3 (`USA`, `FRA`), European feeds often send alpha-2 and
some send the English name. The data is pycountry's copy of the ISO 3166-1 list.
"""

import pycountry


def country_code(value: str) -> str:
    """The ISO 3166-1 alpha-2 code for a country code or English name: "fra", "FR", "France", "250" -> "FR".

    Two letters are kept (upper-cased). Three letters with an alpha-2 form are mapped to it; three letters with none
    (a withdrawn or user-assigned code such as "YUG" or "XKX") are kept, upper-cased. A three-digit ISO 3166-1
    numeric code and an English name (short, official or common, any case) are mapped when ISO 3166-1 has them.
    Raise ValueError for anything else.
    """
    text = " ".join(value.split())
    if not text:
        return ""
    upper = text.upper()
    if text.isascii() and text.isalpha() and len(text) in (2, 3):
        if len(text) == 2:
            return upper
        country = pycountry.countries.get(alpha_3=upper)
        return country.alpha_2 if country else upper
    if text.isascii() and text.isdigit() and len(text) == 3:
        country = pycountry.countries.get(numeric=text)
    elif len(text) > 3:
        try:
            country = pycountry.countries.lookup(text)  # names: exact, case-insensitive (no guessing)
        except LookupError:
            country = None
    else:
        country = None
    if country is None:
        raise ValueError(f"{text!r} is not an ISO 3166 country code or a country name the RIS knows.")
    return country.alpha_2
