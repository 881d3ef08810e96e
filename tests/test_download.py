"""Downloads against a real HTTP server on the loopback interface (no internet)."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from model_runtime import download as dl
from model_runtime.checkpoints import MOBILESAM, SAM1, CheckpointError
from model_runtime.registry import CheckpointSpec
from tests.tiny_models import save_mobile_sam_checkpoint

PAYLOAD = os.urandom(300_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class ServerState:
    payload: bytes = PAYLOAD
    # the first `drop_requests` responses stop after `drop_after` body bytes and close the socket
    drop_requests: int = 0
    drop_after: int = 100_000
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        header = self.headers.get("Range")
        state.ranges.append(header)
        data = state.payload
        start = 0
        if header and state.honour_range:
            start = int(header.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.drop_requests > 0:
            state.drop_requests -= 1
            self.wfile.write(body[: state.drop_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}/weights/test_model.pt", state
    httpd.shutdown()
    httpd.server_close()


def _spec(url: str, sha256: str | None = PAYLOAD_SHA, size: int | None = len(PAYLOAD)) -> CheckpointSpec:
    return CheckpointSpec(
        "test_model", SAM1, "test_model.pt", url, size, sha256, "Apache-2.0", "test file", "fast"
    )


def test_download_reports_progress_and_verifies(server, tmp_path):
    url, _ = server
    calls: list[tuple[int, int | None]] = []
    result = dl.download(_spec(url), tmp_path, progress=lambda d, t: calls.append((d, t)), chunk_size=65536)
    assert result.path == tmp_path / "test_model.pt"
    assert result.path.read_bytes() == PAYLOAD
    assert result.verification == dl.VERIFIED
    assert calls[0] == (0, len(PAYLOAD))
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert not (tmp_path / "test_model.pt.part").exists()


def test_interrupted_download_keeps_part_then_resumes_with_range(server, tmp_path):
    url, state = server
    state.drop_requests = 1
    with pytest.raises(dl.DownloadError, match="resume"):
        dl.download(_spec(url), tmp_path, retries=0, chunk_size=8192)
    part = tmp_path / "test_model.pt.part"
    assert part.exists() and 0 < part.stat().st_size < len(PAYLOAD)
    assert not (tmp_path / "test_model.pt").exists()  # never a half file under the final name
    kept = part.stat().st_size
    result = dl.download(_spec(url), tmp_path, chunk_size=8192)
    assert result.path.read_bytes() == PAYLOAD
    assert state.ranges[-1] == f"bytes={kept}-"


def test_download_resumes_automatically_within_retries(server, tmp_path):
    url, state = server
    state.drop_requests = 2
    result = dl.download(_spec(url), tmp_path, retries=2, chunk_size=8192)
    assert result.path.read_bytes() == PAYLOAD
    assert state.ranges[0] is None and state.ranges[1] is not None


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    url, state = server
    state.drop_requests = 1
    state.honour_range = False
    result = dl.download(_spec(url), tmp_path, retries=1, chunk_size=8192)
    assert result.path.read_bytes() == PAYLOAD


def test_sha256_mismatch_removes_file_with_clear_error(server, tmp_path):
    url, _ = server
    with pytest.raises(dl.ChecksumError, match="sha256") as err:
        dl.download(_spec(url, sha256="0" * 64), tmp_path)
    assert "deleted" in str(err.value)
    assert not (tmp_path / "test_model.pt").exists() and not (tmp_path / "test_model.pt.part").exists()


def test_unknown_digest_downloads_as_unverified(server, tmp_path):
    url, _ = server
    result = dl.download(_spec(url, sha256=None, size=None), tmp_path)
    assert result.verification == dl.UNVERIFIED
    assert result.path.read_bytes() == PAYLOAD


def test_wrong_size_on_server_is_refused(server, tmp_path):
    url, _ = server
    with pytest.raises(dl.DownloadError, match="bytes"):
        dl.download(_spec(url, size=len(PAYLOAD) + 1), tmp_path)
    assert not (tmp_path / "test_model.pt").exists()


def test_cancellation_keeps_partial_file(server, tmp_path):
    url, _ = server
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 50_000:
            cancel.set()

    with pytest.raises(dl.DownloadCancelled):
        dl.download(_spec(url), tmp_path, progress=progress, cancel=cancel, chunk_size=16384)
    assert not (tmp_path / "test_model.pt").exists()
    assert (tmp_path / "test_model.pt.part").stat().st_size < len(PAYLOAD)
    # a callable works as well, and a later run completes from the partial file
    assert dl.download(_spec(url), tmp_path, cancel=lambda: False).path.read_bytes() == PAYLOAD


def test_offline_error_names_host_and_manual_route(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/sam.pt"
    with pytest.raises(dl.OfflineError) as err:
        dl.download(_spec(url), tmp_path, timeout=5)
    message = str(err.value)
    assert f"cannot reach 127.0.0.1:{port}" in message
    assert url in message and "samdesk models add FILE" in message


def test_http_error_is_reported(tmp_path):
    class NotFound(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_error(404, "Not Found")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/x.pt"
        with pytest.raises(dl.DownloadError, match="HTTP 404"):
            dl.download(_spec(url), tmp_path)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.skipif(sys.platform == "win32", reason="uses fcntl to hold the lock like a second process")
def test_concurrent_download_of_same_file_is_refused(server, tmp_path):
    import fcntl

    url, state = server
    with open(tmp_path / "test_model.pt.lock", "a+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # another samdesk is at it
        with pytest.raises(dl.DownloadError, match="already being downloaded"):
            dl.download(_spec(url), tmp_path)
    assert state.ranges == []  # refused before touching the network
    assert dl.download(_spec(url), tmp_path).path.read_bytes() == PAYLOAD


def test_not_enough_disk_space_is_refused_before_downloading(server, tmp_path, monkeypatch):
    url, state = server
    full_disk = SimpleNamespace(total=10_000, used=9_000, free=1_000)
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda _: full_disk)
    with pytest.raises(dl.DownloadError, match="not enough disk space"):
        dl.download(_spec(url), tmp_path)
    assert state.ranges == []


def test_no_network_on_import_or_start_up():
    # With every socket connection forbidden, importing the runtime, building the CLI and
    # loading the classical model must all work: nothing downloads without a user action.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise SystemExit('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import model_runtime, model_runtime.download, model_runtime.registry, model_runtime.plugins\n"
        "from samdesk import cli\n"
        "cli.build_parser()\n"
        "model_runtime.load_model('classical')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr


def test_gated_model_is_not_downloadable(tmp_path):
    with pytest.raises(dl.DownloadError, match="by hand"):
        dl.download("sam3", tmp_path)


def test_models_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(dl.ENV_MODELS_DIR, str(tmp_path / "env"))
    assert dl.models_dir() == tmp_path / "env"
    assert dl.models_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(dl.ENV_MODELS_DIR)
    assert dl.models_dir().parts[-2:] == ("samdesk", "models")


def test_add_custom_checkpoint_then_resolve(tmp_path):
    source = save_mobile_sam_checkpoint(tmp_path / "my_finetune.pth")
    models = tmp_path / "models"
    result = dl.add(source, models)
    assert result.verification == dl.CUSTOM and result.family == MOBILESAM
    assert result.path == models / "my_finetune.pth" and result.path.read_bytes() == source.read_bytes()
    assert dl.resolve("my_finetune", models) == result.path
    assert [m.name for m in dl.installed(models)] == ["my_finetune"]
    # adding the same file again is harmless
    assert dl.add(source, models).path == result.path


def test_add_refuses_official_name_with_wrong_digest(tmp_path):
    source = save_mobile_sam_checkpoint(tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(dl.ChecksumError, match="sam_vit_b"):
        dl.add(source, tmp_path / "models")
    assert not (tmp_path / "models" / "sam_vit_b_01ec64.pth").exists()


def test_add_refuses_non_checkpoint(tmp_path):
    bogus = tmp_path / "notes.pt"
    torch.save({"weight": torch.zeros(1)}, bogus)
    with pytest.raises(CheckpointError, match="not a known SAM checkpoint"):
        dl.add(bogus, tmp_path / "models")


def test_resolve_registry_name_not_installed_says_how(tmp_path):
    with pytest.raises(dl.ModelNotInstalledError, match="samdesk models download sam2.1_hiera_tiny"):
        dl.resolve("sam2.1_hiera_tiny", tmp_path)
    with pytest.raises(CheckpointError, match="not a known model name"):
        dl.resolve("no_such_model", tmp_path)


def test_installed_registry_file_is_found_by_name(tmp_path):
    (tmp_path / "mobile_sam.pt").write_bytes(b"x")
    (tmp_path / "mobile_sam.pt.part").write_bytes(b"x")
    models = dl.installed(tmp_path)
    assert [(m.name, m.verification) for m in models] == [("mobile_sam", dl.VERIFIED)]
    assert dl.resolve("mobile_sam", tmp_path) == tmp_path / "mobile_sam.pt"
    assert dl.path("mobile_sam", tmp_path) == tmp_path / "mobile_sam.pt"


def test_add_that_fails_midway_leaves_no_partial_file(tmp_path, monkeypatch):
    """A copy cut short (disk full) leaves the models folder as it was."""
    import errno
    import shutil

    source = save_mobile_sam_checkpoint(tmp_path / "my_finetune.pth")
    models = tmp_path / "models"

    def disk_full(src, dst, *args, **kwargs):
        Path(dst).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(OSError, match="No space left"):
        dl.add(source, models)
    assert list(models.iterdir()) == []
