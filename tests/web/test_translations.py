"""The console's pt-BR catalog is complete and is what the console serves: every message of
its code and templates translated, with the same placeholders, and the compiled .mo in the
repository compiled from the .po beside it (`make translations` keeps the three in step)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parents[2] / "web"
CATALOG = WEB / "translations" / "pt_BR" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None}
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(WEB), method_map=method_map, keywords=keywords
        )
    }


def po_catalog() -> Catalog:
    with (CATALOG / "messages.po").open("rb") as po:
        return read_po(po, locale="pt_BR")


def test_every_message_of_the_console_has_a_pt_br_translation():
    catalog = po_catalog()
    translated = {
        message.id: message.string
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }

    missing = sorted(extracted() - set(translated))

    assert missing == [], f"untranslated (run `make translations`, then translate): {missing}"


def test_every_translation_keeps_the_placeholders_of_its_message():
    broken = [
        message.id
        for message in po_catalog()
        if message.id
        and set(PLACEHOLDER.findall(message.id)) != set(PLACEHOLDER.findall(message.string))
    ]

    assert broken == []


def test_the_served_mo_is_compiled_from_the_po():
    with (CATALOG / "messages.mo").open("rb") as mo:
        served = {m.id: m.string for m in read_mo(mo) if m.id}
    written = {m.id: m.string for m in po_catalog() if m.id and m.string and not m.fuzzy}

    assert served == written, "run `make translations` to compile the catalog"
