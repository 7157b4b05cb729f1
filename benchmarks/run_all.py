"""Run every benchmark and write docs/benchmarks.md.

    .venv/bin/python -m benchmarks.run_all            # the full run, about 22 minutes on 2 cores
    .venv/bin/python -m benchmarks.run_all --quick    # a few minutes; writes runs/benchmarks/quick.md

Each benchmark runs in its own process (so one's memory is freed before the next) and writes its
section and raw figures to runs/benchmarks/<run>/; this script adds the machine's description, the
"what this means" notes computed from the figures, and the GPU rows still owed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._report import REPO, WORK_DIR, machine_info, machine_markdown

BENCHMARKS = ("model", "service", "search", "startup", "embed_ratio")
DOC = REPO / "docs" / "benchmarks.md"


def run(name: str, out: Path, quick: bool) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", f"benchmarks.bench_{name}", "--out", str(out)] + (
        ["--quick"] if quick else []
    )
    print(f"== {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - start


def load(out: Path, name: str) -> tuple[str, dict[str, Any]]:
    md, js = out / f"{name}.md", out / f"{name}.json"
    if not md.exists():
        return f"## {name}\n\nnot run\n", {}
    return md.read_text(), json.loads(js.read_text())


def pct(x: float) -> str:
    return f"{x:.0%}"


def model_notes(d: dict[str, Any]) -> list[str]:
    if not d:
        return []
    fps = {int(b): v for b, v in d["engines_fps"].items()}
    best_mm = max(d["matmul_gflops"].values())
    flops = d["flops_per_frame"]
    notes = [
        f"ONNX Runtime runs the same weights {fps[1]['ort'] / fps[1]['eager']:.1f}x as fast as PyTorch eager "
        f"at batch 1 and {fps[8]['ort'] / fps[8]['eager']:.1f}x at batch 8 (T = 16): the exported graph is "
        "fused (BN folded into convolutions, the Loop's steps without Python between them).",
        f"At {flops / 1e6:.0f} MFLOP per frame, ONNX Runtime reaches "
        f"{fps[1]['ort'] * flops / 1e9:.0f} GFLOP/s at "
        f"batch 1 and {fps[8]['ort'] * flops / 1e9:.0f} at batch 8: "
        f"{fps[8]['ort'] * flops / 1e9 / best_mm:.0%} "
        f"of the best measured float32 matmul ({best_mm:.0f} GFLOP/s). MobileNetV2's depthwise "
        "convolutions and "
        "the GRU-RCN's small per-step convolutions are memory-bound, so a large gap to the matmul peak is "
        "expected; batching adds "
        f"{fps[8]['ort'] / fps[1]['ort'] - 1:+.0%} frames/s.",
    ]
    variants = d.get("variants_fps", {})
    r1 = d.get("variants_rank1", {})
    base = variants.get("service", {}).get("8")
    if base:
        speed = {name: v["8"] / base for name, v in variants.items()}
        best = max(speed, key=lambda k: speed[k])
        notes.append(
            "Session options (batch 8, relative to the service's): "
            + ", ".join(f"`{name}` {speed[name]:.2f}x" for name in speed if name != "service")
            + f". The fastest here is `{best}`; differences under about 10% are within this machine's noise "
            "(other jobs share the two cores), the graph-optimisation levels below `all` are "
            "consistently slower."
        )
    base_r1 = r1.get("service")
    if base_r1 is not None:
        for name in ("int8-dynamic", "int8-static-minmax", "int8-static-percentile", "fp16"):
            if name in variants and r1.get(name) is not None:
                drop = base_r1 - r1[name]
                kept = drop <= 0.01 + 1e-9 and speed[name] > 1.0
                notes.append(
                    f"`{name}`: rank-1 {r1[name]:.3f} vs {base_r1:.3f} ({-drop * 100:+.1f} points), "
                    f"{speed[name]:.2f}x the speed: **{'kept' if kept else 'not kept'}**"
                    + ("" if kept else (" (accuracy)" if drop > 0.01 + 1e-9 else " (no faster on this CPU)"))
                    + "."
                )
    return notes


def service_notes(d: dict[str, Any]) -> list[str]:
    if not d:
        return []
    offline = {int(b): v for b, v in d["offline"].items()}
    best_b = max(offline, key=lambda b: offline[b])
    runs = d["runs"]

    def get(config: str, clients: int) -> dict[str, Any] | None:
        return next((r for r in runs if r["config"] == config and r["clients"] == clients), None)

    notes = []
    on8 = get("batching on", 8)
    if on8:
        s = on8["shares_ms"]
        verdict = "met" if d["ratio_8_clients"] >= 0.8 else "missed"
        notes.append(
            f"**8 clients: {on8['tracklets_per_s']:.2f} tracklets/s = {d['ratio_8_clients']:.0%} of "
            "the model's best "
            f"offline throughput (batch {best_b}, {offline[best_b]:.2f}/s): target {verdict}.** Mean batch "
            f"{on8['mean_batch']:.1f}, the model busy {on8['model_busy']:.0%} of the time. Of a request's "
            f"{s['total']:.0f} ms in the server, {s['model'] / s['total']:.0%} is waiting for and "
            "running the model, "
            f"{s['decode'] / s['total']:.1%} decoding 16 JPEGs, {s['preprocess'] / s['total']:.1%} resizing, "
            f"{s['framework'] / s['total']:.1%} framework (multipart parsing {s['parse']:.1f} ms, "
            "routing, JSON)."
        )
    for clients in (8, 32):
        on, off = get("batching on", clients), get("batching off", clients)
        if on and off:
            notes.append(
                f"Micro-batching at {clients} clients: "
                f"{on['tracklets_per_s'] / off['tracklets_per_s']:.2f}x the "
                f"throughput of one call per request ({on['tracklets_per_s']:.2f} vs "
                f"{off['tracklets_per_s']:.2f}/s), "
                f"p99 {on['p99_ms']:.0f} vs {off['p99_ms']:.0f} ms."
            )
    one = get("batching on", 1)
    if one:
        notes.append(
            f"One client: {one['tracklets_per_s']:.2f} tracklets/s, p50 {one['p50_ms']:.0f} ms — "
            "the latency of "
            f"a batch-1 model call ({1000 / offline[1]:.0f} ms offline) plus "
            f"{one['p50_ms'] - 1000 / offline[1]:.0f} ms of HTTP, decoding and batching wait."
        )
    fill = get("batching on, filling to demand (0.3)", 8)
    if on8 and fill:
        notes.append(
            f"Filling a batch to the recent demand (`REID_BATCH_FILL_FRACTION=0.3`, off by default): "
            f"mean batch {fill['mean_batch']:.1f} at 8 clients against {on8['mean_batch']:.1f} without it "
            f"(the clients split into cohorts that take turns), "
            f"{fill['tracklets_per_s'] / on8['tracklets_per_s']:.2f}x the throughput, p99 "
            f"{fill['p99_ms']:.0f} "
            f"vs {on8['p99_ms']:.0f} ms, the model busy {fill['model_busy']:.0%} vs "
            f"{on8['model_busy']:.0%}. On "
            f"this CPU a chunk costs {1000 / offline[8]:.0f} ms at batch 8 against "
            f"{1000 / offline[1]:.0f} ms "
            "alone, so fuller batches buy little and the wait for them costs model time: it stays off here; "
            "on a GPU, where batching is worth far more, it is the setting to try."
        )
    spin = next(
        (r for r in runs if r["config"].startswith("batching on, ORT spinning") and r["clients"] == 8), None
    )
    if on8 and spin:
        notes.append(
            f"ONNX Runtime's intra-op spinning (`onnxruntime_engine.INTRA_OP_SPINNING`), the other setting: "
            f'"{spin["config"]}" gives 8 clients {spin["tracklets_per_s"]:.2f} tracklets/s '
            f"({spin['tracklets_per_s'] / on8['tracklets_per_s']:.2f}x the service's), p99 "
            f"{spin['p99_ms']:.0f} ms, "
            f"mean batch {spin['mean_batch']:.1f}: within the 10% this shared machine's noise spans, so the "
            "choice rests on the argument in `session.py`, not on this figure."
        )
    return notes


def search_notes(d: dict[str, Any]) -> list[str]:
    if not d:
        return []
    notes = []
    match = d["match"]
    for r in match:
        if r["size"] >= 100_000:
            notes.append(
                f"{r['size']:,} entries: /match p50 {r['p50_ms']:.1f} ms = "
                f"{r['p50_ms'] / r['floor_p50_ms']:.2f}x the "
                f"numpy floor ({r['floor_p50_ms']:.1f} ms); the gallery's own kernel alone "
                f"{r['kernel_p50_ms']:.1f} ms; {r['bytes_per_entry']:.0f} bytes per entry "
                f"({r['bytes_per_entry'] / (4 * r['dim']):.2f} x 4D)."
            )
    small = [r for r in match if r["size"] <= 10_000]
    if small:
        notes.append(
            "Small galleries: the product itself takes under a millisecond ("
            + ", ".join(
                f"{r['size']:,}: floor {r['floor_p50_ms']:.2f} ms, "
                f"one-thread kernel {r['kernel_p50_ms']:.2f} ms"
                for r in small
            )
            + "), so /match's time there is HTTP and JSON ("
            + ", ".join(f"{r['p50_ms']:.1f} ms at {r['size']:,}" for r in small)
            + ") and its ratio to the floor says nothing about the search."
        )
    redis = d.get("redis")
    if redis:
        h, p = redis["hiredis"], redis["python"]
        notes.append(
            f"Redis: {max(h['enroll_per_s'], p['enroll_per_s']):,.0f} embeddings/s enrolled, pipelined "
            f"(target 5,000/s: {'met' if max(h['enroll_per_s'], p['enroll_per_s']) >= 5000 else 'missed'}). "
            f"hiredis changes enrolment by {h['enroll_per_s'] / p['enroll_per_s']:.2f}x (replies "
            "are one integer) "
            f"and a replica's full load by {h['load_per_s'] / p['load_per_s']:.2f}x "
            f"({h['load_per_s']:,.0f} vs {p['load_per_s']:,.0f} entries/s: each reply carries a 2 "
            "KiB vector)."
        )
    faiss = d.get("faiss")
    if faiss:
        for size in sorted({r["size"] for r in faiss}):
            for kind in ("random", "clustered"):
                rows = [r for r in faiss if r["size"] == size and r["data"] == kind]
                if not rows:
                    continue
                good = [r for r in rows if r["recall_at_10"] >= 0.95]
                pick = good[0] if good else max(rows, key=lambda r: r["recall_at_10"])
                notes.append(
                    f"faiss IVF-SQ8, {size:,} {kind} vectors: nprobe {pick['nprobe']} gives recall@10 "
                    f"{pick['recall_at_10']:.3f} at {pick['p50_ms']:.2f} ms p50 against "
                    f"{pick['exact_p50_ms']:.1f} ms "
                    f"for the exact scan ({pick['exact_p50_ms'] / pick['p50_ms']:.0f}x), after a "
                    f"{pick['build_s']:.0f} s "
                    "build"
                    + (
                        "; on i.i.d. random vectors no index helps (every point is nearly equidistant), so "
                        "recall stays low whatever the speed."
                        if kind == "random"
                        else "."
                    )
                )
    for r in d.get("served_index", []):
        exact = next((m for m in d["match"] if m["size"] == r["size"]), None)
        notes.append(
            f"Through the service with `REID_GALLERY_INDEX=ivf`, {r['size']:,} entries: /match p50 "
            f"{r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms"
            + (
                f" against {exact['p50_ms']:.1f} ms exact ({exact['p50_ms'] / r['p50_ms']:.0f}x)"
                if exact
                else ""
            )
            + f"; {r['bytes_per_entry']:.0f} bytes per entry with the index; loading and the background "
            f"builds took {r['settle_s']:.0f} s, during which searches stayed exact."
        )
    return notes


def startup_notes(d: dict[str, Any]) -> list[str]:
    if not d:
        return []
    notes = []
    for name, runs in d["runs"].items():
        ready = sorted(r["ready_s"] for r in runs)[len(runs) // 2]
        peak = sorted(r["peak_after_load"] for r in runs)[len(runs) // 2] / 1024**2
        rss = sorted(r["rss_ready"] for r in runs)[len(runs) // 2] / 1024**2
        notes.append(
            f"{name}: ready in {ready:.2f} s; {rss:.0f} MiB at ready, peak {peak:.0f} MiB under load (ONNX "
            "Runtime's arena keeps the activations of the largest batch it has run)."
        )
    return notes


CHANGES = """## What the service does differently because of these figures

- `service/inference/onnxruntime_engine.py`: one `session_options()` for every model session: all graph
  optimisations (the lower levels run the model at under half the speed, section 1), one graph at a
  time (`inter_op_num_threads` 1, sequential: the micro-batcher serialises calls), and ONNX Runtime's
  intra-op spinning off (`INTRA_OP_SPINNING`): the same cores parse uploads, decode JPEGs and run the
  event loop, and spinning threads take CPU from them (section 2 compares both in the service).
- `service/gallery/matrix.py`: the score vector comes from `scores()`: OpenBLAS's threaded
  matrix-vector product from 32,768 rows (memory-bound, and two threads pull more bandwidth than
  one), numpy's own single-thread loop below, where waking OpenBLAS's threads on cores busy with
  ONNX Runtime costs more than the product; the top-k selection and the filters run block by block
  (64k rows), so a query allocates nothing of the gallery's size beyond the score vector.
- `service/inference/batcher.py`: the micro-batcher can fill a batch to the recent demand
  (`REID_BATCH_FILL_FRACTION`), so that closed-loop clients share one batch instead of taking turns
  in cohorts; off by default on the strength of section 2, to be tried on a GPU.
- `service/gallery/faiss_index.py`: `SearchIndex`, a faiss IVF-SQ8 index the brute-force matrix
  is composed with (`pip install '.[index]'`, `REID_GALLERY_INDEX=ivf`),
  for galleries where a full scan no longer fits the latency budget: built in the background from
  500,000 entries (about where the exact scan passes 50 ms here), rebuilt as the gallery doubles,
  exact searches meanwhile; `hiredis` in the runtime dependencies for the replica's gallery load
  from Redis.
"""


GPU_OWED = """## GPU rows: owed

No GPU was available for this run: every figure above is a CPU figure. On a GPU machine the same
scripts give the GPU rows once the service's providers are CUDA (`REID_PROVIDERS` unset and
`onnxruntime-gpu` installed, pyproject extra `gpu`); still to be measured there: the CUDA execution
provider against PyTorch eager on CUDA at batch 1 and 8, IO binding (inputs and outputs kept on the
device), the fp16 export (`python -m model_export export ... --precision fp16`, within a point of
rank-1 in section 1), and
`/embed` at 1, 8 and 32 clients with the model on the GPU.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument(
        "--doc", type=Path, default=None, help="default: docs/benchmarks.md (quick: runs/benchmarks/quick.md)"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="the run's folder (default: a new one); --only re-runs some"
    )
    parser.add_argument("--assemble-only", action="store_true", help="run nothing, write the doc from --dir")
    args = parser.parse_args()
    info = machine_info()
    out = args.dir or WORK_DIR / ("quick" if args.quick else time.strftime("full-%Y%m%d-%H%M%S"))
    seconds: dict[str, float] = {}
    if not args.assemble_only:
        for name in args.only:
            seconds[name] = run(name, out, args.quick)
    doc = args.doc or (WORK_DIR / "quick.md" if args.quick else DOC)
    sections = {name: load(out, name) for name in BENCHMARKS}
    notes = {
        "model": model_notes(sections["model"][1]),
        "service": service_notes(sections["service"][1]),
        "search": search_notes(sections["search"][1]),
        "startup": startup_notes(sections["startup"][1]),
        "embed_ratio": [],
    }
    parts = [
        "# Benchmarks\n",
        "Written by `python -m benchmarks.run_all`"
        + (" --quick" if args.quick else "")
        + f" on {time.strftime('%Y-%m-%d')}; every figure below comes from that one run on this machine. "
        "Ratios are taken within one run with the candidates interleaved, because the machine is shared "
        "and absolute timings drift with other jobs (the load average is given below). The scripts are in "
        "`benchmarks/` (`bench_model.py`, `bench_service.py`, `bench_search.py`, `bench_startup.py`, "
        "`bench_embed_ratio.py`, each "
        "with `--quick`); nothing here is asserted by a test.\n",
        "## Machine\n",
        machine_markdown(info) + "\n",
    ]
    if seconds:
        parts.append(
            "Run time: " + ", ".join(f"{name} {s / 60:.1f} min" for name, s in seconds.items()) + ".\n"
        )
    for name in BENCHMARKS:
        parts.append(sections[name][0])
        if notes[name]:
            parts.append("**What this means**\n\n" + "\n".join(f"- {n}" for n in notes[name]) + "\n")
    parts.append(CHANGES)
    parts.append(GPU_OWED)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(parts))
    print(f"wrote {doc} (figures in {out})")


if __name__ == "__main__":
    main()
