"""Key templates: `Template("ORDER#{created_at:%Y%m%d}#{order_id}")`, the marker of a composed key attribute.

A template is parsed once, when it is built; the model's schema (`aiotheory.schema`) compiles it against the
component fields' codecs. Pure string work: imports nothing heavy, no I/O.
"""

from __future__ import annotations

import re
import string
from typing import Final

from .errors import KeyTemplateMismatch, ValidationError

__all__ = ["Template"]

_FORMATTER: Final = string.Formatter()


class Template:
    """A key attribute built from other fields: `pk: Annotated[str, PK, Template("USER#{user_id}")] = ""`.

    Each `{field}` or `{field:spec}` names a field of the model; `spec` is a `format()` spec (`%Y%m%d` for a
    datetime, `08d` for an int). Without a spec a component is written as the field stores it (a datetime
    as its RFC 3339 string). Components should not contain the literal text that follows them in the
    template (the `#`), or a key cannot be read back unambiguously.
    """

    __slots__ = ("_parts", "_regex", "fields", "pattern")

    pattern: str
    #: The component field names, in template order.
    fields: tuple[str, ...]
    _parts: tuple[tuple[str, str | None, str], ...]  # (literal before, field or None at the end, spec)
    _regex: re.Pattern[str]

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise ValidationError("Template needs a non-empty pattern such as 'USER#{user_id}'")
        parts: list[tuple[str, str | None, str]] = []
        regex: list[str] = []
        names: list[str] = []
        try:
            parsed = list(_FORMATTER.parse(pattern))
        except ValueError as exc:
            raise ValidationError(f"Template({pattern!r}): {exc}") from None
        for literal, name, spec, conversion in parsed:
            regex.append(re.escape(literal))
            if name is None:
                parts.append((literal, None, ""))
                continue
            if not name.isidentifier() or conversion is not None or "{" in (spec or ""):
                raise ValidationError(
                    f"Template({pattern!r}): {{{name}}} must name a field, with an optional format spec"
                )
            if name in names:
                raise ValidationError(f"Template({pattern!r}): field {name!r} appears twice")
            names.append(name)
            parts.append((literal, name, spec or ""))
            # Lazy: the literal that follows ends the component (the separator never occurs inside it).
            regex.append(f"(?P<{name}>.*?)")
        if not names:
            raise ValidationError(f"Template({pattern!r}) names no field; write a constant key as a default")
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "fields", tuple(names))
        object.__setattr__(self, "_parts", tuple(parts))
        object.__setattr__(self, "_regex", re.compile("".join(regex), re.DOTALL))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Template is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        return f"Template({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def render(self, **values: object) -> str:
        """The key for these component values, each given as the text it takes in the key or a value
        that `format(value, spec)` turns into it; ValidationError for a missing component."""
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise ValidationError(f"{self!r}: no value for {', '.join(missing)}")
        return self.prefix(**values)

    def prefix(self, **values: object) -> str:
        """The key text up to the first component not given: a `begins_with` argument.

        `prefix()` is the literal head (`"ORDER#"`); `prefix(created_at=d)` adds the date and its `#`.
        """
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValidationError(f"{self!r} has no component {', '.join(sorted(unknown))}")
        out: list[str] = []
        for literal, name, spec in self._parts:
            out.append(literal)
            if name is None:
                break
            if name not in values:
                break
            value = values[name]
            out.append(value if type(value) is str and not spec else format(value, spec))
        return "".join(out)

    def parse(self, text: str) -> dict[str, str]:
        """The component texts of a key written with this template.

        Raises:
            KeyTemplateMismatch: `text` does not have the template's shape.
        """
        found = self._regex.fullmatch(text) if isinstance(text, str) else None
        if found is None:
            raise KeyTemplateMismatch(f"a key does not match {self!r}", template=self.pattern)
        return found.groupdict()
