"""`samdesk models ...` end to end through the real CLI entry point (loopback server only)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from dataclasses import replace

import pytest
import torch

import model_runtime
from model_runtime import download as dl
from model_runtime import registry
from model_runtime.checkpoints import CheckpointError
from samdesk.cli import main
from tests.tiny_models import save_mobile_sam_checkpoint

PAYLOAD = bytes(range(256)) * 1000


class _Serve(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)


@pytest.fixture
def local_registry(monkeypatch):
    """Point the registry's sam2.1_hiera_tiny at a loopback server holding PAYLOAD."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    official = registry.get("sam2.1_hiera_tiny")
    spec = replace(
        official,
        url=f"http://127.0.0.1:{httpd.server_address[1]}/{official.filename}",
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
    )
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: spec if name == spec.name else real_get(name))
    yield spec
    httpd.shutdown()
    httpd.server_close()


def test_list_shows_registry_and_builtin(tmp_path, capsys):
    assert main(["models", "--dir", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert "classical" in out and "built in" in out
    assert "sam2.1_hiera_tiny" in out and "available" in out
    sam3_line = next(line for line in out.splitlines() if line.startswith("sam3 "))
    assert "manual download" in sam3_line
    assert str(tmp_path) in out


def test_download_shows_progress_and_prints_path(tmp_path, capsys, local_registry):
    assert main(["models", "--dir", str(tmp_path), "download", "sam2.1_hiera_tiny"]) == 0
    captured = capsys.readouterr()
    target = tmp_path / "sam2.1_hiera_tiny.pt"
    assert target.read_bytes() == PAYLOAD
    assert str(target) in captured.out and "sha256 verified" in captured.out
    assert "100%" in captured.err and "sam2.1_hiera_tiny" in captured.err
    assert main(["models", "--dir", str(tmp_path), "path", "sam2.1_hiera_tiny"]) == 0
    assert capsys.readouterr().out.strip() == str(target)


def test_download_offline_is_one_line_error(tmp_path, capsys, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    official = registry.get("mobile_sam")
    spec = replace(official, url=f"http://127.0.0.1:{port}/mobile_sam.pt")
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: spec if name == "mobile_sam" else real_get(name))
    assert main(["models", "--dir", str(tmp_path), "download", "mobile_sam"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith("samdesk models: error: cannot reach 127.0.0.1")


def test_unknown_and_not_installed_names_fail_clearly(tmp_path, capsys):
    assert main(["models", "--dir", str(tmp_path), "download", "sam_vit_x"]) == 1
    assert "unknown model 'sam_vit_x'" in capsys.readouterr().err
    assert main(["models", "--dir", str(tmp_path), "path", "sam_vit_b"]) == 1
    err = capsys.readouterr().err
    assert "samdesk models download sam_vit_b" in err and len(err.strip().splitlines()) == 1


def test_add_then_list_and_path(tmp_path, capsys):
    source = save_mobile_sam_checkpoint(tmp_path / "finetuned_sam.pth")
    models = tmp_path / "models"
    assert main(["models", "--dir", str(models), "add", str(source)]) == 0
    assert "added finetuned_sam (mobilesam, custom)" in capsys.readouterr().out
    assert main(["models", "--dir", str(models), "list"]) == 0
    assert "finetuned_sam" in capsys.readouterr().out
    assert main(["models", "--dir", str(models), "path", "finetuned_sam"]) == 0
    assert capsys.readouterr().out.strip() == str(models / "finetuned_sam.pth")


def test_add_rejects_a_non_checkpoint(tmp_path, capsys):
    bogus = tmp_path / "photo.pt"
    bogus.write_bytes(b"\x89PNG not a checkpoint")
    assert main(["models", "--dir", str(tmp_path / "m"), "add", str(bogus)]) == 1
    assert "photo.pt" in capsys.readouterr().err


def test_load_model_by_registry_name(tmp_path, monkeypatch):
    monkeypatch.setenv(dl.ENV_MODELS_DIR, str(tmp_path))
    with pytest.raises(dl.ModelNotInstalledError, match="samdesk models download sam2.1_hiera_tiny"):
        model_runtime.load_model("sam2.1_hiera_tiny")
    # once a file sits under the registry name, load_model reads that file (this one is no SAM)
    torch.save({"x": torch.zeros(1)}, tmp_path / "mobile_sam.pt")
    with pytest.raises(CheckpointError) as err:
        model_runtime.load_model("mobile_sam")
    assert str(tmp_path / "mobile_sam.pt") in str(err.value)
