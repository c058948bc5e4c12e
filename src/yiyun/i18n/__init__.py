"""Translations: Babel catalogues (zh_CN default, en), loaded from the .po sources.

Source strings are English; `zh_CN/LC_MESSAGES/messages.po` translates them. The .po
files are compiled in memory at start-up, so there is no build step to forget.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
CATALOGUES = Path(__file__).resolve().parent


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue for a locale (English source strings when absent)."""
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if locale not in LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def normalise(value: str | None) -> str | None:
    """Map `zh`, `zh-CN`, `zh_cn`, `en-US`… to a supported locale, or None."""
    if not value:
        return None
    low = value.strip().replace("-", "_").lower()
    if low.startswith("zh"):
        return "zh_CN"
    if low.startswith("en"):
        return "en"
    return None


def gettext(locale: str, message: str) -> str:
    # gettext("") is the catalogue's header (Project-Id-Version: ...), never a message
    return translations(locale).gettext(message) if message else ""
