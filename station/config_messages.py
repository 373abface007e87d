"""Configuration mistakes in the administrator's words: which file, which key, what is wrong.

msgspec says `Expected `bool`, got `str` - at `$.targets.registry.insecure``; the operator
reads `station.toml: [targets.registry] insecure: expected true or false, got a string`, with
a hint (the known keys of that table, the allowed values, or "without quotes"). msgspec hides
the names of free-form tables (`$.policy.keys[...]`); they are found again by checking each
entry of the raw file against its model, so the message names `[policy.keys.release-bot]`.
Runs only when a file is wrong, so start-up never pays for it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from station.config import DOCS, ConfigError, decode_hook

_WHERE = re.compile(r"^(?P<what>.*?) - at `(?P<path>[^`]*)`(?: in `(?P<outer>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")
_TYPES = re.compile(r"`([a-z]+(?: \| [a-z]+)*)`")
_TYPE_WORDS = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "object": "a table",
    "array": "a list",
    "null": "nothing",
}
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HIDDEN = None  # a free-form table name msgspec does not report

Step = str | int | None


def explain(message: str, data: bytes, model: type[Any], path: Path) -> ConfigError:
    """The error for one msgspec validation message about `data` (the file's bytes)."""
    found = _WHERE.match(message)
    what = found.group("what") if found is not None else message
    at = "" if found is None else found.group("outer") or found.group("path")
    steps = _name_hidden_keys(_steps(at), data, model)
    unknown = _UNKNOWN.match(what)
    if unknown is not None:
        known = [f"`{k}`" for k in _known_keys(_type_at(model, steps))]
        where = f"[{_dotted(steps)}]" if steps else "the top level"
        hint = f"known keys there: {', '.join(known)}; " if known else ""
        return ConfigError(
            f"{path}: unknown key `{unknown.group('key')}` in {where}",
            hint=f"{hint}see {DOCS}",
        )
    what = _TYPES.sub(_plain_types, what).replace("Object missing required field", "missing key")
    what = what[:1].lower() + what[1:]
    hint = f"see {DOCS}; the station does not start until the file is right"
    kind = _type_at(model, steps)
    if isinstance(kind, msgspec.inspect.LiteralType):
        hint = f"use one of {', '.join(repr(v) for v in kind.values)}; {hint}"
    if "got a string" in what and "true or false" in what:
        hint = f"write true or false without quotes; {hint}"
    if found is not None and found.group("outer"):
        return ConfigError(f"{path}: a table name in [{_dotted(steps)}] is not allowed: {what}",
                           hint=hint)
    return ConfigError(f"{path}: {_key_name(steps, kind)}: {what}", hint=hint)


def _plain_types(match: re.Match[str]) -> str:
    names = [n for n in match.group(1).split(" | ") if n != "null"] or ["null"]
    return " or ".join(_TYPE_WORDS.get(n, f"`{n}`") for n in names)


def _steps(path: str) -> list[Step]:
    steps: list[Step] = []
    for match in _STEP.finditer(path.removeprefix("$")):
        name, index, _hidden = match.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(_HIDDEN)
    return steps


def _toml_key(step: str) -> str:
    return step if _BARE_KEY.fullmatch(step) else '"' + step.replace('"', '\\"') + '"'


def _dotted(steps: list[Step]) -> str:
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f" #{step + 1}"
        else:
            out += ("." if out else "") + ("…" if step is None else _toml_key(step))
    return out


def _key_name(steps: list[Step], kind: Any) -> str:
    """`[targets.registry] insecure`, `[approval] second_roles #1`, or `[targets.registry]`
    when the whole table is at fault."""
    if not steps:
        return "the file"
    if isinstance(kind, msgspec.inspect.StructType) and not any(
        isinstance(s, int) for s in steps
    ):
        return f"[{_dotted(steps)}]"
    first_index = next((i for i, s in enumerate(steps) if isinstance(s, int)), len(steps))
    table, key = steps[: first_index - 1], steps[first_index - 1 :]
    return f"[{_dotted(table)}] {_dotted(key)}" if table else _dotted(key)


def _type_at(model: type[Any], steps: list[Step]) -> Any:
    """The msgspec type the model expects at `steps`, or None when it cannot tell."""
    kind: Any = msgspec.inspect.type_info(model)
    for step in steps:
        kind = _unwrap(kind)
        if isinstance(kind, msgspec.inspect.StructType) and isinstance(step, str):
            field = next((f for f in kind.fields if f.encode_name == step), None)
            if field is None:
                return None
            kind = field.type
        elif isinstance(kind, msgspec.inspect.DictType):
            kind = kind.value_type
        elif hasattr(kind, "item_type"):
            kind = kind.item_type
        else:
            return None
    return _unwrap(kind)


def _known_keys(kind: Any) -> list[str]:
    if isinstance(kind, msgspec.inspect.StructType):
        return [f.encode_name for f in kind.fields]
    return []


def _unwrap(kind: Any) -> Any:
    """The one real type inside `X | None`."""
    if isinstance(kind, msgspec.inspect.UnionType):
        real = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(real) == 1:
            return real[0]
    return kind


def _name_hidden_keys(steps: list[Step], data: bytes, model: type[Any]) -> list[Step]:
    """Put back the table names msgspec reports as `[...]`: the first entry of that table
    that does not fit its model is the one at fault."""
    if _HIDDEN not in steps:
        return steps
    try:
        raw: Any = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return steps
    named: list[Step] = []
    for step in steps:
        if step is _HIDDEN and isinstance(raw, dict):
            value_type = _dict_value_type(model, named)
            culprit = next(
                (k for k, v in raw.items() if value_type is not None and not _fits(v, value_type)),
                None,
            )
            if culprit is None:
                return [*named, *steps[len(named) :]]
            step = culprit
        named.append(step)
        try:
            raw = raw[step] if raw is not None and step is not None else None
        except (KeyError, IndexError, TypeError):
            raw = None
    return named


def _dict_value_type(model: type[Any], steps: list[Step]) -> Any:
    """The Python type of a free-form table's values (for msgspec.convert)."""
    hints: Any = model
    for step in steps:
        if isinstance(step, str) and isinstance(hints, type) and issubclass(
            hints, msgspec.Struct
        ):
            hints = _field_type(hints, step)
        elif isinstance(step, int):
            hints = _args(hints)[0] if _args(hints) else None
        else:
            return None
    args = _args(hints)
    return args[1] if len(args) == 2 else None


def _field_type(model: type[msgspec.Struct], name: str) -> Any:
    import typing

    hints = typing.get_type_hints(model, include_extras=True)
    for field in msgspec.structs.fields(model):
        if field.encode_name == name:
            kind = hints[field.name]
            real = [a for a in _args(kind) if a is not type(None)]
            if typing.get_origin(kind) in (typing.Union, type(int | None)) and len(real) == 1:
                return real[0]
            return kind
    return None


def _args(kind: Any) -> tuple[Any, ...]:
    import typing

    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return typing.get_args(kind)


def _fits(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind, dec_hook=decode_hook)
    except msgspec.ValidationError:
        return False
    return True
