"""How long the ``samdesk`` process lingers after File ▸ Quit (Ctrl+Q).

    xvfb-run -a env QT_QPA_PLATFORM=xcb python bench/gui_quit.py --model CKPT IMAGE... [--runs 5]
    ... --while-encoding        # quit while the neighbours' encodes still run
    ... --checkout ../main      # the same with another checkout's code (before/after, one run)

Each run starts the real program (``samdesk.cli.run``, as the console script does) in a fresh
process on the images with the model; once the model is loaded, the files are open and the
image on screen is encoded (or, with ``--while-encoding``, as soon as the neighbours' encodes
have started), Quit is triggered as the menu does. The time is from the trigger to the end of
the process, measured by the parent. Median of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys, time
sys.path.insert(0, os.environ["BENCH_CHECKOUT"])
from PySide6.QtCore import QTimer
import samdesk.ui.app as app_module
from samdesk import cli

real = app_module.create_window
busy = os.environ.get("BENCH_WHILE_ENCODING") == "1"

def create(*args, **kwargs):
    window = real(*args, **kwargs)
    window.errors_as_status = True
    timer = QTimer(window)

    def poll():
        opened = window.bridge.runtime.model_info is not None and not window.files.busy
        shown = opened and window.current_image is not None
        in_flight = bool(window.model_link.requests_in_flight)
        ready = shown and (in_flight if busy else not in_flight)
        if ready:
            timer.stop()
            window.document.history.mark_clean()
            print("QUIT", time.time(), flush=True)
            window.menu_actions["quit"].trigger()

    timer.timeout.connect(poll)
    timer.start(20)
    return window

app_module.create_window = create
sys.argv = ["samdesk", *sys.argv[1:]]
cli.run()
"""


def one_run(checkout: Path, args: list[str], while_encoding: bool, env: dict[str, str]) -> float:
    env = {**env, "BENCH_CHECKOUT": str(checkout), "BENCH_WHILE_ENCODING": "1" if while_encoding else "0",
           "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="samdesk-bench-quit-")}  # no embedding cached yet
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], cwd=checkout, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    quit_at = None
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("QUIT"):
            quit_at = float(line.split()[1])
    child.wait(timeout=600)
    ended = time.time()
    if quit_at is None or child.returncode != 0:
        raise SystemExit(f"the run did not quit cleanly (exit status {child.returncode})")
    return ended - quit_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("images", nargs="+")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--while-encoding", action="store_true")
    parser.add_argument("--checkout", type=Path, action="append", help="default: this checkout")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkout] if args.checkout else [REPO_ROOT]
    env = dict(os.environ)
    env.setdefault("SAMDESK_CONFIG_DIR", str(Path("/tmp") / "samdesk-bench-quit-config"))
    cli_args = ["--model", args.model, *[str(Path(i).resolve()) for i in args.images]]
    seconds: dict[Path, list[float]] = {c: [] for c in checkouts}
    for _ in range(args.runs):
        for checkout in checkouts:  # interleaved: the machine's load falls on both alike
            seconds[checkout].append(one_run(checkout, cli_args, args.while_encoding, env))
    when = "while encoding" if args.while_encoding else "idle"
    for checkout, values in seconds.items():
        print(
            f"{checkout.name}: quit -> process gone ({when}), median {statistics.median(values):.2f} s "
            f"over {len(values)} runs (min {min(values):.2f}, max {max(values):.2f})"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
