"""MSH-18: `UTF-8` read as `UNICODE UTF-8`, a site's aliases for what its CIS sends (RIS_HL7_CHARSET_ALIASES,
checked at start-up), and a clear AR for any other character set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interfaces.hl7v2 import charset_codec
from interfaces.models import InboundMessage
from interfaces.services import message_receive
from ris.models import Patient
from tests.interfaces.conftest import assert_valid_ack, err_fields, msh_segment, segment

ROOT = Path(__file__).resolve().parents[2]


def adt_a08(
    control_id: str,
    charset: str,
    *,
    name: str = "Wójcik^Zofia",
    address: str = "Łąkowa 3^^Gdańsk",
    version: str = "2.3",
) -> str:
    """An ADT^A08 as a Polish hospital system sends it, MSH-18 as given."""
    head = {3: "AMMS", 4: "SZPITAL", 5: "RIS", 6: "RAD", 7: "20261128101010", 9: "ADT^A08", 10: control_id}
    return "\r".join(
        [
            msh_segment(head | {11: "P", 12: version, 18: charset}),
            segment("EVN", {1: "A08", 2: "20261128101010"}),
            segment("PID", {1: "1", 3: "PL31^^^SZPITAL^MR", 5: name, 7: "19610212", 8: "F", 11: address}),
            segment("PV1", {1: "1", 2: "O"}),
        ]
    )


def msa(ack: str) -> list[str]:
    return next(s.split("|") for s in ack.split("\r") if s.startswith("MSA|"))


@pytest.mark.django_db
@pytest.mark.parametrize("label", ["UTF-8", "utf-8", "UTF8", "UNICODE UTF-8"])
def test_utf_8_is_read_as_unicode_utf_8(label):
    ack = message_receive(adt_a08("U1", label).encode("utf-8"))
    assert_valid_ack(ack, version="2.3")
    assert msa(ack)[1] == "AA"
    patient = Patient.objects.get()
    assert (patient.family_name, patient.city) == ("Wójcik", "Gdańsk")


@pytest.mark.django_db
def test_a_configured_alias_reads_a_cp1250_message(settings):
    settings.RIS_HL7_CHARSET_ALIASES = {"CP1250": "windows-1250"}
    text = adt_a08("C1", "CP1250", name="Żółć\\XB9\\^Łucja")  # \XB9\ is "ą" in Windows-1250
    ack = message_receive(text.encode("windows-1250"))
    assert_valid_ack(ack, version="2.3")
    assert msa(ack)[1] == "AA"
    patient = Patient.objects.get()
    assert (patient.family_name, patient.given_name, patient.street) == ("Żółćą", "Łucja", "Łąkowa 3")


@pytest.mark.django_db
def test_an_alias_can_remap_a_table_0211_label_a_cis_misuses(settings):
    settings.RIS_HL7_CHARSET_ALIASES = {"8859/1": "cp1252"}  # Windows-1252 text labelled Latin-1
    text = adt_a08("C2", "8859/1", name="Cœur^Zoë", address="1 rue Haute^^Lyon")  # œ: 0x9C in Windows-1252 only
    assert msa(message_receive(text.encode("cp1252")))[1] == "AA"
    assert Patient.objects.get().family_name == "Cœur"


@pytest.mark.django_db
@pytest.mark.parametrize(("version", "err"), [("2.3", None), ("2.5.1", "MSH^1^18")])
def test_a_character_set_neither_in_table_0211_nor_aliased_is_refused_with_ar_103(settings, version, err):
    settings.RIS_HL7_CHARSET_ALIASES = {"CP1250": "windows-1250"}
    text = adt_a08("R1", "CP1251", name="Петрова^Анна", address="ул. Ленина 5^^Минск", version=version)
    ack = message_receive(text.encode("cp1251"))
    assert_valid_ack(ack, version=version)
    assert msa(ack)[1] == "AR"
    [fields] = err_fields(ack)
    if err is None:  # v2.3: ERR-1 is the location and the code
        assert fields[1] == "MSH^1^18^103&Table value not found&HL70357"
    else:
        assert (fields[2], fields[3].split("^")[0]) == (err, "103")
        assert "'CP1251'" in fields[8]
        assert "CP1250" in fields[8]  # the reason lists what the RIS reads, the site's aliases included
    assert InboundMessage.objects.get().status == "REJECTED"
    assert not Patient.objects.exists()


def test_aliases_are_looked_up_before_table_0211_and_ignore_case():
    aliases = {"cp1250": "windows-1250", "8859/2": "cp1250"}
    assert charset_codec(" CP1250 ", aliases) == "windows-1250"
    assert charset_codec("8859/2", aliases) == "cp1250"
    assert charset_codec("8859/2") == "iso8859-2"
    assert charset_codec("Utf8") == "utf-8"
    assert charset_codec("CP1251", aliases) is None


def settings_loaded(aliases: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter, as the RIS does when it starts, with this environment value."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["RIS_HL7_CHARSET_ALIASES"] = aliases
    code = "import ris.settings as s; print(sorted(s.RIS_HL7_CHARSET_ALIASES.items()))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_aliases_setting_is_read_from_the_environment():
    result = settings_loaded("CP1250=windows-1250, windows-1252 = cp1252")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('CP1250', 'windows-1250'), ('WINDOWS-1252', 'cp1252')]"


@pytest.mark.parametrize("aliases", ["CP1250=windows-9999", "U16=utf-16", "R=rot13", "CP1250", "=cp1250"])
def test_an_alias_without_a_usable_codec_stops_the_ris_at_start_up(aliases):
    result = settings_loaded(aliases)
    assert result.returncode != 0
    assert "ImproperlyConfigured: RIS_HL7_CHARSET_ALIASES" in result.stderr
