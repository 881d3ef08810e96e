"""Third-party extensions found through Python entry points (see plugins/README.md).

- ``samdesk.model_backends``: callables ``(source: str, device) -> ImageModel | None`` that
  ``model_runtime.load_model`` tries, in name order, for a source no built-in family matches.
- ``samdesk.exporters``: export formats offered beside the built-in ones.

Discovery only reads installed distributions' metadata; a plugin's code is imported when it
is first needed, and a plugin that fails to import is reported and skipped, never fatal.
"""

from plugins.discovery import (
    BACKENDS_GROUP,
    EXPORTERS_GROUP,
    PluginError,
    discover_backends,
    discover_exporters,
    load_with_backends,
)

__all__ = [
    "BACKENDS_GROUP",
    "EXPORTERS_GROUP",
    "PluginError",
    "discover_backends",
    "discover_exporters",
    "load_with_backends",
]
