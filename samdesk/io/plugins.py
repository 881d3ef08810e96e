"""Exporter plugins: export formats other installed distributions add (``samdesk.exporters``).

Each entry point names an :class:`~samdesk.io.formats.ExportFormat` object; the format's
``name`` is what the CLI's ``--format`` and the export dialog offer, beside the built-in ones.
The exporter gets the same arguments as a built-in one and should begin with
:func:`samdesk.io.output.start_export` and write through its output to keep their promises (nothing
left behind by a failed or cancelled export, never over the project or its media, no existing file
replaced unless asked, missing media named).

Plugins are found with :mod:`model_runtime.plugins` (the layer below); one that fails to import,
is not an ``ExportFormat`` or takes a name already offered is skipped with a warning in the log,
never fatal: the built-in formats always stay available.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from model_runtime.plugins import Plugin, PluginError, discover
from samdesk.io.formats import ExportFormat

EXPORTERS_GROUP = "samdesk.exporters"

log = logging.getLogger(__name__)


def discover_exporters() -> list[Plugin]:
    """Exporters registered under ``samdesk.exporters`` (not imported yet)."""
    return discover(EXPORTERS_GROUP)


def plugin_export_formats(taken: Collection[str]) -> tuple[list[ExportFormat], list[str]]:
    """The export formats installed plugins add, in plugin-name order, and the problems of those
    left out. ``taken``: names already offered (the built-in formats), which a plugin cannot take."""
    formats: list[ExportFormat] = []
    problems: list[str] = []
    names = set(taken)
    for plugin in discover_exporters():
        try:
            fmt = plugin.load()
        except PluginError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(fmt, ExportFormat):
            problems.append(
                f"exporter plugin {plugin.name!r} ({plugin.dist}) is a {type(fmt).__name__}, "
                "not a samdesk.io.formats.ExportFormat"
            )
        elif fmt.name in names:
            problems.append(
                f"exporter plugin {plugin.name!r} ({plugin.dist}) offers format {fmt.name!r}, "
                "which is already taken; left out"
            )
        else:
            names.add(fmt.name)
            formats.append(fmt)
    for problem in problems:
        log.warning("%s", problem)
    return formats, problems
