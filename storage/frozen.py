"""`dataclasses.replace` and construction from a dict for the frozen dataclasses every occurrence copies and
decodes, without running the generated `__init__`.

The grouping agent copies a key's state, its group and each change it sends (four to six copies per
occurrence). `dataclasses.replace` builds a keyword dict of every field and calls the generated
`__init__`, which sets each field through `object.__setattr__`: 7.9 µs for a `GroupState` (35 fields) and
2.5 µs for a `KeyState`. Copying the fields directly takes 3.2 and 0.5 µs. The copy is the same object
`replace` makes for a class whose fields are all set by `__init__`, and its `__post_init__` (checks such as
an output id's form) runs on the copy as `__init__` would run it; a class with fields `__init__` does not
set, or a `__post_init__` that takes init-only arguments, is left to `dataclasses.replace`.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Copier = Callable[[Any, dict[str, Any]], Any]
_COPIERS: dict[type, _Copier] = {}
_Builder = Callable[[dict[str, Any]], Any]
_BUILDERS: dict[type, _Builder] = {}


def replace_fields(obj: T, /, **changes: Any) -> T:
    """`dataclasses.replace(obj, **changes)`, faster; a TypeError for a name that is not a field of `obj`."""
    copier = _COPIERS.get(type(obj))
    if copier is None:
        copier = _COPIERS[type(obj)] = _copier(type(obj))
    return copier(obj, changes)  # type: ignore[no-any-return]


def construct(cls: type[T], values: dict[str, Any]) -> T:
    """`cls(**values)`, faster; the same TypeError for a name that is not a field or a missing required one."""
    builder = _BUILDERS.get(cls)
    if builder is None:
        builder = _BUILDERS[cls] = _builder(cls)
    return builder(values)  # type: ignore[no-any-return]


def _direct(cls: type) -> bool:
    """Whether instances of `cls` can be made by setting their fields, as its `__init__` sets them."""
    post_init = getattr(cls, "__post_init__", None)
    return all(field.init for field in dataclasses.fields(cls)) and (
        post_init is None or len(inspect.signature(post_init).parameters) == 1)


def _builder(cls: type) -> _Builder:
    if not _direct(cls):
        return lambda values: cls(**values)
    fields = dataclasses.fields(cls)
    known = frozenset(field.name for field in fields)
    required = frozenset(field.name for field in fields
                         if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING)
    namespace: dict[str, Any] = {"cls": cls, "known": known, "required": required, "refuse": _refuse,
                                 "missing": _missing, "new_object": object.__new__, "set_attribute": object.__setattr__}
    lines = ["def build(values):",
             "    if not (values.keys() <= known and required <= values.keys()):",
             "        refuse(cls, values, known) if not values.keys() <= known else missing(cls, values, required)",
             "    new = new_object(cls)",
             "    get = values.get"]
    slotted = _slotted(cls)
    if not slotted:
        lines.append("    fields = new.__dict__")
    for index, field in enumerate(fields):
        name = field.name
        if name in required:
            value = f"values[{name!r}]"
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"factory_{index}"] = field.default_factory
            value = f"values[{name!r}] if {name!r} in values else factory_{index}()"
        else:
            namespace[f"default_{index}"] = field.default
            value = f"get({name!r}, default_{index})"
        lines.append(f"    set_attribute(new, {name!r}, {value})" if slotted else f"    fields[{name!r}] = {value}")
    if getattr(cls, "__post_init__", None) is not None:
        lines.append("    new.__post_init__()")
    lines.append("    return new")
    exec("\n".join(lines), namespace)  # noqa: S102 - the source is built from the class's own field names
    return namespace["build"]  # type: ignore[no-any-return]


def _slotted(cls: type) -> bool:
    """Whether `cls` has slots, its own or inherited: its fields are then set through object.__setattr__ (which
    also reaches a __dict__ a subclass without slots adds)."""
    return hasattr(cls, "__slots__")


def _missing(cls: type, values: dict[str, Any], required: frozenset[str]) -> None:
    absent = ", ".join(sorted(required - values.keys()))
    raise TypeError(f"{cls.__name__} is missing field(s) {absent}")


def _copier(cls: type) -> _Copier:
    fields = dataclasses.fields(cls)
    post_init = getattr(cls, "__post_init__", None)
    if not _direct(cls):
        return lambda obj, changes: dataclasses.replace(obj, **changes)
    names = tuple(field.name for field in fields)
    known = frozenset(names)
    if not _slotted(cls):
        def copy_dict(obj: Any, changes: dict[str, Any]) -> Any:
            if not changes.keys() <= known:
                _refuse(cls, changes, known)
            new = object.__new__(cls)
            values = new.__dict__
            values.update(obj.__dict__)
            values.update(changes)
            if post_init is not None:
                new.__post_init__()
            return new
        return copy_dict
    # A slotted class: one generated function that sets each slot, as the generated __init__ does.
    lines = ["def copy_slots(obj, changes):",
             "    if not changes.keys() <= known:",
             "        refuse(cls, changes, known)",
             "    new = new_object(cls)",
             "    get = changes.get"]
    lines += [f"    set_attribute(new, {name!r}, get({name!r}, obj.{name}))" for name in names]
    if post_init is not None:
        lines.append("    new.__post_init__()")
    lines.append("    return new")
    namespace: dict[str, Any] = {"cls": cls, "known": known, "refuse": _refuse, "new_object": object.__new__,
                                 "set_attribute": object.__setattr__}
    exec("\n".join(lines), namespace)  # noqa: S102 - the source is built from the class's own field names
    return namespace["copy_slots"]  # type: ignore[no-any-return]


def _refuse(cls: type, changes: dict[str, Any], known: frozenset[str]) -> None:
    unknown = ", ".join(sorted(changes.keys() - known))
    raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
