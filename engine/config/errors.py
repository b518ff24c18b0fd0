"""`ConfigError`: every problem in a configuration, gathered into one message.

Each problem names the dotted key (`strategy.base_spread`, `markets[1].coin`), the bad value (masked when
the key can hold a secret) and what would be accepted, so the operator can fix everything in one pass.
"""
from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

# Anything shaped like a private key is blanked in every message we build, whatever its origin.
_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def scrub(text: str) -> str:
    """Blank out anything that looks like a private key (64 hex digits, with or without 0x)."""
    return _KEY_LIKE.sub("0x****", text)


def dotted(loc: Iterable[str | int]) -> str:
    """('markets', 0, 'coin') -> 'markets[0].coin'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    key: str        # dotted path
    message: str    # starts with the key; secret-bearing values already masked

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", scrub(self.message))  # last line of defence for key-like values

    def __str__(self) -> str:
        return self.message


class ConfigError(ValueError):
    """The configuration is unusable. `problems` lists each one; str() lists them all."""

    def __init__(self, problems: list[Problem] | Problem | str, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem("(config)", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        if len(self.problems) == 1:
            return scrub(f"invalid configuration{where}: {self.problems[0].message}")
        lines = [f"invalid configuration{where} ({len(self.problems)} problems):"]
        lines += [f"  - {p.message}" for p in self.problems]
        return scrub("\n".join(lines))

    def __repr__(self) -> str:
        return f"ConfigError({str(self)!r})"


# --------------------------------------------------------------------------------------------------
# Turning a pydantic ValidationError into Problems

def show_value(value: Any) -> str:
    """A short, scrubbed rendering of a bad value for an error message."""
    if isinstance(value, (dict, list, tuple)):
        text = f"<{type(value).__name__}>" if len(repr(value)) > 80 else repr(value)
    else:
        text = repr(value)
        if len(text) > 80:
            text = text[:77] + "..."
    return scrub(text)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional / list[...] / Annotated wrappers down to the model or scalar type inside."""
    while True:
        origin = get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if models:
                annotation = models[0]
            elif len(args) == 1:
                annotation = args[0]
            else:
                return annotation  # a real union of scalars (int | str): nothing narrower to say
        elif origin in (list, tuple, set, frozenset, typing.Annotated):
            annotation = get_args(annotation)[0]
        else:
            return annotation


def field_info_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> FieldInfo | None:
    """The FieldInfo that `loc` (a pydantic error location) points at, or None if it names no field."""
    owner: Any = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue  # list index: stay on the list field's item type
        if not (isinstance(owner, type) and issubclass(owner, BaseModel)):
            return None
        info = owner.model_fields.get(part)
        if info is None:
            return None
        owner = _unwrap(info.annotation)
    return info


def allowed_text(info: FieldInfo | None) -> str | None:
    """What a field accepts, from its declared constraints (or an explicit `allowed` note)."""
    if info is None:
        return None
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "allowed" in extra:
        return str(extra["allowed"])
    base = _unwrap(info.annotation)
    if get_origin(base) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(base))
    if base is bool:
        return "true or false"
    lower = upper = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Gt):
            lower = f"{meta.gt} <"
        elif isinstance(meta, annotated_types.Ge):
            lower = f"{meta.ge} <="
        elif isinstance(meta, annotated_types.Lt):
            upper = f"< {meta.lt}"
        elif isinstance(meta, annotated_types.Le):
            upper = f"<= {meta.le}"
    kind = {int: "an integer", float: "a number", str: "a string"}.get(base)
    if lower or upper:
        bounds = " ".join(part for part in (lower, "value", upper) if part)
        return f"{kind or 'a value'}, {bounds}"
    return kind


def problems_from_validation(
    exc: ValidationError,
    model: type[BaseModel],
    secret_keys: typing.Callable[[str], bool],
    masker: typing.Callable[[str, Any], str],
    origin_of: typing.Callable[[tuple], str | None] = lambda loc: None,
) -> list[Problem]:
    """One Problem per pydantic error, naming the dotted key, the (masked) value and what is allowed."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        etype = err.get("type", "")
        ctx = err.get("ctx") or {}
        # Cross-field checks report several exact keys at once through this custom error type.
        if etype == "hlmm_problems":
            for sub_loc, text in ctx.get("problems", []):
                full = loc + tuple(sub_loc)
                sep = " " if text.startswith("= ") else ": "
                out.append(Problem(dotted(full), _with_origin(f"{dotted(full)}{sep}{text}", full, origin_of)))
            continue
        key = dotted(loc)
        info = field_info_at(model, loc)
        if etype == "extra_forbidden":
            out.append(Problem(key, _with_origin(_unknown_key_text(model, loc), loc, origin_of)))
            continue
        if etype == "missing":
            allowed = allowed_text(info)
            text = f"{key}: required key is missing" + (f" (expected {allowed})" if allowed else "")
            out.append(Problem(key, _with_origin(text, loc, origin_of)))
            continue
        value = err.get("input")
        shown = masker(key, value) if secret_keys(key) else show_value(value)
        msg = err.get("msg", "invalid value")
        if etype == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        msg = msg[:1].lower() + msg[1:]
        allowed = allowed_text(info)
        text = f"{key} = {shown}: {msg}"
        if allowed and etype != "literal_error" and allowed.lower() not in msg.lower():
            text += f" (allowed: {allowed})"
        out.append(Problem(key, _with_origin(text, loc, origin_of)))
    return out


def _with_origin(text: str, loc: tuple, origin_of: typing.Callable[[tuple], str | None]) -> str:
    source = origin_of(loc)
    return f"{text} [set by {source}]" if source else text


def _unknown_key_text(model: type[BaseModel], loc: tuple) -> str:
    key = dotted(loc)
    parent = field_info_at(model, loc[:-1]) if len(loc) > 1 else None
    owner = _unwrap(parent.annotation) if parent is not None else model
    known = list(owner.model_fields) if isinstance(owner, type) and issubclass(owner, BaseModel) else []
    text = f"{key}: unknown key (typo?)"
    close = difflib.get_close_matches(str(loc[-1]) if loc else "", known, n=1)
    if close:
        text += f"; did you mean {close[0]!r}?"
    if known:
        text += f" Known keys here: {', '.join(known)}"
    return text
