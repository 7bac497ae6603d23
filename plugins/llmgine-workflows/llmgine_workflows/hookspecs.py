"""The hook this plugin adds to llmgine's plugin manager: ``register_workflows``.

Other plugins implement it to declare workflows. They mark it
``@llmgine.hookimpl(optionalhook=True)`` so that they still load when
llmgine-workflows is not installed (the hook is then simply never called).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llmgine import hookspec

if TYPE_CHECKING:
    from ._definition import Workflow

__all__ = ["register_workflows"]


@hookspec
def register_workflows(register: Callable[[Workflow], None]) -> None:
    """Declare workflows by calling ``register(Workflow(name, [Step(...), ...]))``."""
