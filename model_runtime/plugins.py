"""Plugins: code other installed distributions register under samdesk's entry-point groups.

A plugin is an ordinary installed package (``plugins/README.md``); nothing is copied into samdesk
and nothing is downloaded. Discovery only reads installed distributions' metadata; a plugin's
code is imported when it is first needed, and one that fails to import is reported and skipped,
never fatal.

This module holds what every kind of plugin shares (:class:`Plugin`, :func:`discover`) and the
kind the models layer uses: **model backends** (``samdesk.model_backends``), callables
``(source: str, device: str | None) -> ImageModel | None`` that :func:`model_runtime.load_model`
offers a source no built-in family matches. Exporters are the app's business and live in
``samdesk/io/plugins.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

BACKENDS_GROUP = "samdesk.model_backends"

log = logging.getLogger(__name__)


class PluginError(Exception):
    """A plugin that could not be imported or answered with something unusable."""


@dataclass(frozen=True)
class Plugin:
    """One entry point: ``name`` as registered, ``value`` "module:attr", ``dist`` its package."""

    name: str
    value: str
    dist: str
    entry_point: EntryPoint

    def load(self) -> Any:
        """Import the plugin's object; PluginError (naming the plugin) if that fails."""
        try:
            return self.entry_point.load()
        except Exception as exc:  # any import-time failure of foreign code
            where = f"{self.value}, from {self.dist}"
            raise PluginError(f"plugin {self.name!r} ({where}) failed to load: {exc}") from exc


def discover(group: str) -> list[Plugin]:
    """The plugins registered under ``group``, in (name, distribution) order, none imported."""
    found = []
    for ep in entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        found.append(Plugin(ep.name, ep.value, dist, ep))
    # Name order makes the fallback order reproducible whatever order site-packages lists.
    return sorted(found, key=lambda p: (p.name, p.dist))


def discover_backends() -> list[Plugin]:
    """Model backends registered under ``samdesk.model_backends`` (not imported yet)."""
    return discover(BACKENDS_GROUP)


def load_with_backends(source: str, device: str | None) -> tuple[Any | None, list[str]]:
    """Offer ``source`` to each backend plugin in turn; return (the first model, problems).

    A backend answers None for sources it does not handle. A backend that fails to import,
    raises, or returns something that is not an ImageModel is skipped, and the reason is
    collected so the caller can include it in its own error.
    """
    from model_runtime.api import ImageModel

    problems: list[str] = []
    for plugin in discover_backends():
        try:
            factory: Callable[[str, str | None], Any] = plugin.load()
            model = factory(source, device)
        except Exception as exc:  # a broken plugin must not break loading built-in models
            problems.append(f"{plugin.name}: {exc}")
            log.warning("model backend plugin %s failed on %s: %s", plugin.name, source, exc)
            continue
        if model is None:
            continue
        if not isinstance(model, ImageModel):
            problems.append(f"{plugin.name}: returned {type(model).__name__}, not an ImageModel")
            continue
        return model, problems
    return None, problems
