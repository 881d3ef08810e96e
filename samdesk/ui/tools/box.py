"""Box prompt: drag a box around the object; then clicks refine it (left: a part of it, right or
Shift: not this). A click before any box is not taken as a point: it says to drag a box first,
so a sloppy drag never starts an object from a stray point."""

from __future__ import annotations

from samdesk.ui.tools.click import ClickTool


class BoxTool(ClickTool):
    name = "box"
    label = "Box"
    shortcut = "B"
    help = "Drag: box around the object · then click: add a part · Right/Shift click: exclude"
    order = 20
    box_only = True  # clicks only refine a boxed object (see ClickTool.release)
