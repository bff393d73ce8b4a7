"""The placeholder allocator of one request, and its debug twin that renders readable text instead.

`Params` numbers `#n0, #n1...` and `:v0, :v1...` across every expression of a request, so condition, update,
key condition, filter and projection never collide. Imports only `errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiotheory.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aiotheory._types import AttributeValue, Payload

__all__ = ["DebugParams", "Params", "path_text"]


class Params:
    """The ExpressionAttributeNames / ExpressionAttributeValues of one request.

    Identical attribute names share a placeholder; every value gets its own (values are unhashable dicts and
    rarely repeat). Raw conditions bring their own placeholders, which are checked for collisions.
    """

    __slots__ = ("_by_segment", "_n", "_v", "names", "values")

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}
        self._by_segment: dict[str, str] = {}
        self._n = 0
        self._v = 0

    def name(self, segment: str) -> str:
        """The placeholder (`#n0`) standing for one attribute name or path segment."""
        placeholder = self._by_segment.get(segment)
        if placeholder is None:
            placeholder = f"#n{self._n}"
            self._n += 1
            self._by_segment[segment] = placeholder
            self.names[placeholder] = segment
        return placeholder

    def value(self, av: AttributeValue) -> str:
        """The placeholder (`:v0`) standing for one AttributeValue."""
        placeholder = f":v{self._v}"
        self._v += 1
        self.values[placeholder] = av
        return placeholder

    def path(self, path: tuple[str | int, ...]) -> str:
        """`#n0.#n1[2]`: every name segment a placeholder, list indexes inline (they are plain integers)."""
        out = self.name(path[0])  # type: ignore[arg-type]  # Attr guarantees the first segment is a str
        if len(path) == 1:
            return out
        for segment in path[1:]:
            if segment.__class__ is int:
                out += f"[{segment}]"
            else:
                out += "." + self.name(segment)  # type: ignore[arg-type]  # int handled above
        return out

    def raw(self, names: Mapping[str, str], values: Mapping[str, AttributeValue]) -> None:
        """Adopt a Raw condition's own placeholders; the same placeholder meaning two things is refused."""
        for placeholder, segment in names.items():
            known = self.names.get(placeholder)
            if known is None:
                self.names[placeholder] = segment
            elif known != segment:
                raise ValidationError(f"Raw placeholder {placeholder} is already used for another name")
        for placeholder, av in values.items():
            known_av = self.values.get(placeholder)
            if known_av is None:
                self.values[placeholder] = av
            elif known_av != av:
                raise ValidationError(f"Raw placeholder {placeholder} is already used for another value")

    def apply(self, payload: Payload) -> None:
        """Set ExpressionAttributeNames/Values on `payload` when non-empty (DynamoDB rejects empty maps)."""
        if self.names:
            payload["ExpressionAttributeNames"] = self.names
        if self.values:
            payload["ExpressionAttributeValues"] = self.values


class DebugParams(Params):
    """Renders names as written and values as `?` (or their text), for messages and logs."""

    __slots__ = ("_show_values",)

    def __init__(self, *, show_values: bool = False) -> None:
        super().__init__()
        self._show_values = show_values

    def name(self, segment: str) -> str:
        return segment if segment.isidentifier() else '"' + segment.replace('"', '\\"') + '"'

    def value(self, av: AttributeValue) -> str:
        return _av_text(av) if self._show_values else "?"

    def raw(self, names: Mapping[str, str], values: Mapping[str, AttributeValue]) -> None:
        return None


def _av_text(av: AttributeValue) -> str:
    import json  # debug output only; keeps the request path free of it

    if len(av) == 1:
        ((tag, inner),) = av.items()
        if tag == "S":
            return json.dumps(inner)
        if tag == "N":
            return str(inner)
        if tag == "BOOL":
            return "true" if inner else "false"
        if tag == "NULL":
            return "null"
    return json.dumps(av, separators=(",", ":"), default=str)


def path_text(path: tuple[str | int, ...]) -> str:
    """A path as a reader writes it (`meta.city`, `items[0]`), for error messages."""
    return DebugParams().path(path)
