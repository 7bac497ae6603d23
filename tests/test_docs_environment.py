"""docs/environment.md lists every LLMGINE_* variable that the code reads.

The variables are found two ways: every ``LLMGINE_...`` name written in the core, in the
shipped plugins' packages and in dev.py and its tools/ (names ending in ``_`` are prefixes, such as
``LLMGINE_REDIS_``, not variables), and every setting of each shipped plugin's
``install(bus, **settings)``, whose variable is the setting in upper case after the
plugin's prefix.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import attrs
import llmgine_audit
import llmgine_otel
import llmgine_redis
import llmgine_resources
import llmgine_workflows
import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "environment.md"
NAME = re.compile(r"\bLLMGINE_[A-Z0-9_]+")


def sources() -> list[Path]:
    """The files whose variables are the users': the core, the plugins' packages, dev.py
    and the tools/ it runs."""
    files = [*(ROOT / "core").rglob("*.py"), ROOT / "dev.py", *(ROOT / "tools").glob("*.py")]
    files += [p for package in ROOT.glob("plugins/*/llmgine_*") for p in package.rglob("*.py")]
    return sorted(files)


def variables_in_code() -> dict[str, Path]:
    """Every variable named in the sources, with the first file naming it."""
    found: dict[str, Path] = {}
    for path in sources():
        for name in NAME.findall(path.read_text(encoding="utf-8")):
            if not name.endswith("_"):  # a prefix, e.g. "LLMGINE_REDIS_" + setting
                found.setdefault(name, path)
    return found


def _env_settings(install: object) -> list[str]:
    """The keyword settings of an ``install`` that can come from the environment: those
    whose annotation admits a string (``store=`` and ``tracer_provider=`` take objects)."""
    parameters = list(inspect.signature(install).parameters.values())[1:]  # after bus
    return [p.name for p in parameters if "str" in str(p.annotation)]


def plugin_settings() -> dict[str, str]:
    """Each shipped plugin setting's variable -> the plugin and setting it comes from."""
    settings = {
        f"LLMGINE_RESOURCES_{name.upper()}": f"llmgine_resources.install({name}=)"
        for name in _env_settings(llmgine_resources.install)
    }
    settings |= {
        f"LLMGINE_AUDIT_{name.upper()}": f"llmgine_audit.install({name}=)"
        for name in _env_settings(llmgine_audit.install)
    }
    settings |= {
        f"LLMGINE_WORKFLOWS_{name.upper()}": f"llmgine_workflows.install({name}=)"
        for name in _env_settings(llmgine_workflows.install)
    }
    # llmgine-redis: every RedisConfig field, plus the settings RedisSettings adds.
    redis = [f.name for f in attrs.fields(llmgine_redis.RedisConfig)]
    redis += [f.name for f in attrs.fields(llmgine_redis.RedisSettings)]
    settings |= {
        f"LLMGINE_REDIS_{name.upper()}": f"llmgine_redis.install({name}=)"
        for name in redis
        if name not in ("config", "origin")  # the settings themselves, and where they came from
    }
    settings[llmgine_otel.ENABLE_ENV] = "llmgine_otel (its switch)"
    return settings


def documented() -> set[str]:
    """The variables in the first column of the tables of docs/environment.md."""
    return set(re.findall(r"^\| `(LLMGINE_[A-Z0-9_]+)` \|", TABLE.read_text(), re.MULTILINE))


def test_the_search_finds_the_variables_it_should() -> None:
    found = variables_in_code()
    expected = {"LLMGINE_TRACE", "LLMGINE_LOAD_PLUGINS", "LLMGINE_AUDIT_LOG", "LLMGINE_PYTHONS"}
    assert expected <= set(found)
    assert "LLMGINE_REDIS_" not in found
    settings = plugin_settings()
    assert {"LLMGINE_REDIS_URL", "LLMGINE_REDIS_WORKER", "LLMGINE_REDIS_REMOTE"} <= set(settings)
    assert "LLMGINE_RESOURCES_DB" in settings
    assert "LLMGINE_RESOURCES_STORE" not in settings  # an object, not a variable


def test_every_variable_in_the_code_is_documented() -> None:
    missing = {name: path for name, path in variables_in_code().items() if name not in documented()}
    assert not missing, "docs/environment.md lacks " + ", ".join(
        f"{name} (named in {path.relative_to(ROOT)})" for name, path in sorted(missing.items())
    )


def test_every_plugin_setting_is_documented() -> None:
    missing = {name: how for name, how in plugin_settings().items() if name not in documented()}
    assert not missing, "docs/environment.md lacks " + ", ".join(
        f"{name} ({how})" for name, how in sorted(missing.items())
    )


@pytest.mark.parametrize(
    "name", ["LLMGINE_TRACE_ONLY", "LLMGINE_TRACE_DEPTH", "LLMGINE_ALLOW_MISSING_PYTHONS"]
)
def test_the_variables_of_issue_15_are_documented(name: str) -> None:
    # Set by `llmgine trace --only/--depth` and read by `python3 dev.py test`.
    assert name in documented()
