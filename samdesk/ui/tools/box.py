"""Box prompt: drag a box around the object; right clicks (or Shift clicks) still add exclusions."""

from __future__ import annotations

from samdesk.ui.tools.click import ClickTool


class BoxTool(ClickTool):
    name = "box"
    label = "Box"
    shortcut = "B"
    help = "Drag: box around the object · Right/Shift click: exclude · clicks refine"
    order = 20
    box_only = True  # a plain left click does nothing, so a sloppy drag never becomes a point
