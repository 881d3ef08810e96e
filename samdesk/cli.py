"""Command line: ``samdesk [PATH...]`` opens the GUI; ``samdesk COMMAND ...`` runs headless.

Each headless subcommand lives in its own module under ``samdesk/subcommands/`` and exposes
``register(subparsers)``; adding a subcommand touches one file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

import samdesk
import samdesk.subcommands
from samdesk.subcommands._device import add_device_option

PROGRAM_OPTIONS = ("-h", "--help", "--version")


def _command_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(samdesk.subcommands.__path__) if not m.name.startswith("_")
    )


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    parser = argparse.ArgumentParser(
        prog="samdesk",
        usage="samdesk [--model FILE_OR_NAME] [--device DEVICE] [--compile] [PATH ...]\n"
        "       samdesk COMMAND ...",
        description="Annotate images and videos with Segment Anything. "
        "Without a command, opens the GUI on the given images, videos, folders or projects.",
    )
    parser.add_argument("--version", action="version", version=f"samdesk {samdesk.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the GUI (the default)")
    gui.add_argument(
        "paths", nargs="*", metavar="PATH", help="images, videos, folders or a .samdesk.json project"
    )
    gui.add_argument("--model", help="checkpoint file or registry name to load at start")
    add_device_option(gui, "; overrides the setting for this run")
    gui.add_argument(
        "--compile", action="store_true",
        help="torch.compile the models' image encoders when they load (slower loads, faster "
        "encodes on a GPU; the first click never waits for it)",
    )
    gui.set_defaults(func=lambda args: _run_gui(args))  # late-bound: resolved at call time
    names = {"gui"}
    for name in _command_modules():
        module = importlib.import_module(f"samdesk.subcommands.{name}")
        before = set(sub.choices)
        module.register(sub)
        names |= set(sub.choices) - before
    return parser, names


def _run_gui(args: argparse.Namespace) -> int:
    from samdesk.ui.app import run_gui  # Qt is imported only when the GUI is asked for

    return run_gui(args.paths, model=args.model, device=args.device, compile_models=args.compile)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line as the program reads it: ``args.command`` names the subcommand (``"gui"``
    when none is given) and ``args.func(args)`` runs it."""
    argv = list(argv)
    parser, commands = build_parser()
    # `samdesk photo.jpg` and `samdesk --model FILE photo.jpg` mean `samdesk gui ...`: anything
    # but a command or a program-wide option (--help, --version) is the GUI's.
    if not argv or (argv[0] not in commands and argv[0] not in PROGRAM_OPTIONS):
        argv = ["gui", *argv]
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``samdesk`` program: :func:`main`, then leave the process with its exit status.

    If a model call outlived the runtime's close (quitting during a long encode, Ctrl+C during
    ``precompute``), the normal exit would abort under it (see
    ``model_runtime.runtime.model_calls_running``); everything the user made is saved by then,
    so the process leaves at once, after flushing what Python would have flushed.
    """
    code = main()
    from model_runtime.runtime import model_calls_running  # does not import torch

    if model_calls_running() or gui_ran():
        leave_now(code)
    sys.exit(code)


def gui_ran() -> bool:
    """Whether this process ran the window (headless commands never make a QApplication)."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    return widgets is not None and widgets.QApplication.instance() is not None


def leave_now(code: int) -> None:
    """Exit at once, after what an exit must do: the exit handlers (``atexit``, and through it
    ``weakref.finalize`` clean-ups such as temporary folders), the log and the standard streams.

    What is skipped is the interpreter's teardown: freeing every module's objects one by one
    and the C++ static destructors of torch and Qt. After the window closed (the project saved
    or discarded, the settings written, the runtimes closed) that took 1-1.5 s of a quit
    (issue 18, defect 11), and under a model call still running it aborts the process.
    """
    import atexit

    logging.shutdown()
    atexit._run_exitfuncs()  # what a normal exit runs first; os._exit would skip them
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
