"""The ``--device`` option, one definition for the GUI and every subcommand that loads a model."""

from __future__ import annotations

import argparse

DEVICE_HELP = "where models run: auto (the default: CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps"


def device_argument(text: str) -> str:
    """argparse type of ``--device``: the name as given ("auto" included), checked without
    importing torch; ``model_runtime.devices.resolve_device`` turns it into a device."""
    from model_runtime.devices import parse_device_choice

    try:
        parse_device_choice(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().lower()


def add_device_option(parser: argparse.ArgumentParser, help_suffix: str = "") -> None:
    parser.add_argument("--device", type=device_argument, default=None, help=DEVICE_HELP + help_suffix)
