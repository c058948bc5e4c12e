"""Sentences rendered in the reader's language, for text composed before the reader is known.

`Text("Alert #{id}: {action}", id=7, action=Text("acknowledged"))` holds an English
catalogue message and its parameters; `render(locale)` translates the message and fills
the parameters, translating those that are `Text` themselves and choosing the locale's
value of a `Localised` one (a name kept in several languages). Plain strings and numbers
are data (a meeting title a user typed) and are inserted as they are.

Messages are found by the catalogue extraction (keyword `Text`), so the i18n test holds
them to a Chinese translation like every other sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from yiyun.i18n import DEFAULT_LOCALE, gettext


@dataclass(frozen=True)
class Localised:
    """One value per locale (e.g. a syndrome's Chinese and English names)."""

    values: Mapping[str, str]

    def render(self, locale: str) -> str:
        return (
            self.values.get(locale)
            or self.values.get(DEFAULT_LOCALE)
            or next(iter(self.values.values()), "")
        )


@dataclass(frozen=True, init=False)
class Text:
    """A catalogue message with named `{placeholders}`, rendered per reader."""

    message: str
    params: Mapping[str, str | int | float | Text | Localised] = field(default_factory=dict)

    def __init__(self, message: str, /, **params: str | int | float | Text | Localised) -> None:
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "params", params)

    def render(self, locale: str) -> str:
        values = {
            name: value.render(locale) if isinstance(value, Text | Localised) else value
            for name, value in self.params.items()
        }
        return gettext(locale, self.message).format(**values)


def render(value: str | Text, locale: str) -> str:
    """A `Text` in `locale`; a plain string as it is."""
    return value.render(locale) if isinstance(value, Text) else value
