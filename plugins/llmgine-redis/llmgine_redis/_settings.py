"""The settings of :func:`~llmgine_redis.install`, and the same read from the environment.

Each setting is an environment variable ``LLMGINE_REDIS_<NAME>`` (upper case), and
``install(bus, name=value)`` takes it in lower case: every :class:`RedisConfig` field
(``url``, ``prefix``, ``stream``, ``patterns``, ``maxlen``, ...), plus ``remote``
(wire names of command types that run on workers; ``install`` also takes the classes)
and ``worker`` (true/false: never forward commands, this process runs the handlers).
In the environment, ``patterns`` and ``remote`` are comma-separated, and an optional
number may be ``none``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Self

import attrs
from llmgine.plugins import env_flag

from ._config import RedisConfig

__all__ = ["ENV_PREFIX", "RedisSettings", "env_settings", "setting_names"]

ENV_PREFIX = "LLMGINE_REDIS_"

#: RedisConfig field -> its type as written in the class (``str``, ``int | None``, ...)
_CONFIG_TYPES: dict[str, str] = {f.name: str(f.type) for f in attrs.fields(RedisConfig)}
_DESCRIBE = {
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "tuple[str, ...]": "a sequence of strings",
}


def setting_names() -> list[str]:
    """Every setting ``install`` takes (``LLMGINE_REDIS_`` + upper case in the environment)."""
    return [*_CONFIG_TYPES, "remote", "worker"]


@attrs.frozen
class RedisSettings:
    """What a transport is started with: the config, its role and its extra remote types."""

    config: RedisConfig
    #: never forward commands: this process runs their handlers
    worker: bool = False
    #: command types (classes, or wire names looked up when the transport starts) that
    #: run on workers from this bus, besides those marked with ``remote(cls)``
    remote: tuple[type | str, ...] = ()
    #: where the settings came from, for error messages
    origin: str = attrs.field(default="llmgine_redis.install()", eq=False)

    @classmethod
    def of(cls, settings: Mapping[str, Any], origin: str = "llmgine_redis.install()") -> Self:
        """Check ``settings`` (``install``'s keyword arguments); errors name the setting."""
        unknown = sorted(set(settings) - set(setting_names()))
        if unknown:
            raise TypeError(
                f"{origin}: unknown setting(s) {', '.join(unknown)}; "
                f"the settings are {', '.join(setting_names())}"
            )
        fields = {k: v for k, v in settings.items() if k in _CONFIG_TYPES}
        if isinstance(fields.get("patterns"), list):
            fields["patterns"] = tuple(fields["patterns"])
        worker = settings.get("worker", False)
        if not isinstance(worker, bool):
            raise TypeError(f"{origin}: setting worker must be True or False, not {worker!r}")
        remote = settings.get("remote", ())
        if isinstance(remote, str | type) or not isinstance(remote, Iterable):
            remote = (remote,)
        remote = tuple(remote)
        for item in remote:
            if not isinstance(item, str | type):
                raise TypeError(
                    f"{origin}: setting remote must hold command classes or wire names, "
                    f"not {item!r}"
                )
        try:
            config = RedisConfig(**fields)
        except (TypeError, ValueError) as exc:  # RedisConfig's validators name the field
            raise type(exc)(f"{origin}: {exc}") from None
        for name, value in fields.items():  # the fields RedisConfig takes as they come
            _check_type(origin, name, value)
        return cls(config, worker, remote, origin)

    @classmethod
    def from_env(cls) -> Self:
        """The settings in ``LLMGINE_REDIS_*`` (the others keep their defaults)."""
        return cls.of(env_settings(), origin=f"the {ENV_PREFIX}* environment")


def env_settings() -> dict[str, Any]:
    """The settings the ``LLMGINE_REDIS_*`` variables set, as ``install`` takes them.

    Warns of a variable with that prefix that is no setting; raises ``ValueError``
    naming a variable whose value is not of its setting's type.
    """
    known = {ENV_PREFIX + name.upper(): name for name in setting_names()}
    for variable in os.environ:
        if variable.startswith(ENV_PREFIX) and variable not in known:
            warnings.warn(
                f"environment variable {variable} is not a setting of llmgine-redis "
                f"(ignored); the settings are {', '.join(sorted(known))}",
                RuntimeWarning,
                stacklevel=2,
            )
    settings: dict[str, Any] = {}
    for variable, name in known.items():
        raw = os.environ.get(variable)
        if raw is None:
            continue
        if name == "worker":
            settings[name] = env_flag(variable)
        elif name == "remote":
            settings[name] = _split(raw)
        else:
            settings[name] = _parse(variable, raw, _CONFIG_TYPES[name])
    return settings


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _parse(variable: str, raw: str, kind: str) -> Any:
    """The value of environment variable ``variable`` for a field of type ``kind``."""
    base = kind.removesuffix(" | None")
    if base != kind and raw.strip().lower() in ("", "none"):
        return None
    if base == "str":
        return raw.strip()
    if base == "tuple[str, ...]":
        return _split(raw)
    try:
        return int(raw) if base == "int" else float(raw)
    except ValueError:
        also = " or none" if base != kind else ""
        raise ValueError(
            f"environment variable {variable}={raw!r} must be {_DESCRIBE[base]}{also}"
        ) from None


def _check_type(origin: str, name: str, value: Any) -> None:
    """Raise TypeError naming setting ``name`` unless ``value`` has its field's type."""
    kind = _CONFIG_TYPES[name]
    base = kind.removesuffix(" | None")
    if value is None and base != kind:
        return
    if base == "tuple[str, ...]":
        ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    elif base == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = type(value).__name__ == base
    if not ok:
        also = " or None" if base != kind else ""
        raise TypeError(
            f"{origin}: setting {name} must be {_DESCRIBE[base]}{also}, "
            f"not {value!r} ({type(value).__name__})"
        )
