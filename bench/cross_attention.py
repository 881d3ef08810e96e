"""One SAM 2 memory cross-attention layer at steady state: the official way against ours.

Steady state at 1024² input: 4096 query tokens attend to 7 memory frames × 4096 tokens plus
64 object-pointer tokens (28,736 keys, 256 wide after ``k_proj``; the memory itself is 64
channels). The official ``RoPEAttention`` projects every memory token to a 256-wide value
(``v_proj``) and runs one fused ``scaled_dot_product_attention``; ours
(``RoPEAttention.attend_memory``) mixes the raw 64-channel memory (``softmax_mix``) and projects
only the 4096 mixed rows. Both run the same random weights and inputs, alternating, and the
median of ``--repeats`` runs of each is printed as wall and CPU seconds (CPU seconds are the
fairer number on a loaded machine), with the largest difference between their outputs.

    .venv/bin/python bench/cross_attention.py --repeats 5
    .venv/bin/python bench/cross_attention.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_runtime.models.sam2.memory_attention import RoPEAttention  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--memories", type=int, default=7, help="memory frames of 4096 tokens")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    attn = RoPEAttention(256, 1, kv_dim=64).eval()
    keys = args.memories * 4096 + 64
    q = torch.randn(1, 1, 4096, 256) / 4
    k = torch.randn(1, 1, keys, 256) / 4
    memory = torch.randn(1, keys, 64)

    def official() -> torch.Tensor:
        v = attn.heads(attn.v_proj(memory))
        out = F.scaled_dot_product_attention(q, k, v)
        return attn.out_proj(out.transpose(1, 2).reshape(1, 4096, 256))

    def ours() -> torch.Tensor:
        return attn.attend_memory(q, k, memory)

    diff = (official() - ours()).abs().max().item()
    times: dict[str, list[tuple[float, float]]] = {"official": [], "ours": []}
    for _ in range(args.repeats):
        for name, fn in (("official", official), ("ours", ours)):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(f"torch threads {torch.get_num_threads()}, {keys} keys, max |official - ours| {diff:.1e}")
    medians = {}
    for name, runs in times.items():
        wall = statistics.median(t for t, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = (wall, cpu)
        print(f"{name:9s} wall {wall:.3f} s  cpu {cpu:.3f} s  (wall runs {[round(t, 2) for t, _ in runs]})")
    (ow, oc), (uw, uc) = medians["official"], medians["ours"]
    print(f"ours vs official: wall {ow / uw:.2f}x, cpu {oc / uc:.2f}x")


if __name__ == "__main__":
    main()
