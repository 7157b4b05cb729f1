"""One table for every model a user might pick: ours (a checkpoint, an exported file, or a running
service's `POST /embed`) and the peers, on the same real test sets with the same protocol.

Test sets: CUHK03 labeled `val` (both directions), VIPeR all 632 people (both directions), PRID 2011
single-shot (200 queries against all 749 of camera b). Sequence models embed each tracklet whole;
crop models (the peers) embed each crop alone and average the unit vectors of a tracklet, as their
users do. Speed is each model's own: frames per second spent inside the model, decoding excluded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from model_export.data.dataset import FrameStore
from model_export.data.readers import open_split
from model_export.data.readers.peta import TRAINING_SITES, read_held_out_site
from model_export.data.tracklet import ReIDSplit, Tracklet
from model_export.evaluation.evaluator import EmbedFn, cosine_distance, embed_tracklets, score, summarise
from model_export.evaluation.operating_points import Pairs, cross_camera_pairs, measurable, operating_points
from model_export.evaluation.peers import normalise

# name -> (reader, folder under the data root)
TEST_SETS: dict[str, tuple[str, str]] = {
    "cuhk03": ("cuhk03", "cuhk03"),
    "viper": ("viper", "peta"),
    "prid": ("prid", "peta"),
}
# sets of cameras no model here was trained on: their pairs give each model's true match rate at
# one false match in a thousand, the line a tracker's match-or-enroll step works at (`compare`), and
# the thresholds an exported file carries (`model_export calibrate`)
UNSEEN = {"viper": "VIPeR (632 people)", "prid": "PRID 2011 single-shot (200 of 749 people)"}
# a training site by its lower-case name, for models trained without it (`train --held-out-site`):
# each sighting ranked against the site's others, as the run's own evaluation does. A choice made on
# it (an epoch, a weight) has not looked at VIPeR or PRID; on a model trained with it, it flatters
HELD_OUT_SITES: dict[str, str] = {site.lower(): site for site in TRAINING_SITES}
FALSE_MATCH_RATE = 1e-3


@dataclass
class Timer:
    """Frames embedded and seconds spent in the model alone (no decoding): each model's own speed."""

    crops: int = 0
    seconds: float = 0.0

    @property
    def crops_per_s(self) -> float:
        return self.crops / self.seconds if self.seconds else float("nan")

    @contextlib.contextmanager
    def measure(self, crops: int) -> Iterator[None]:
        tic = time.perf_counter()
        yield
        self.seconds += time.perf_counter() - tic
        self.crops += crops


class Candidate(Protocol):
    name: str
    timer: Timer

    def embed(self, tracklets: Sequence[Tracklet]) -> np.ndarray: ...


# the vector extensions that decide which kernels the engines and torch run (and so the last digits)
_KERNEL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")


def describe_cpu(cpuinfo: str) -> str:
    """The CPU as /proc/cpuinfo gives it: model name, family / model and the kernel-deciding
    extensions. Clouds mask the name ("AMD EPYC" was both an AVX2-only and an AVX-512 chip in two
    sessions), so the name alone would file two machines' figures as one's."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields:
                break  # the first processor's block is enough
            continue
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name", "unknown CPU")
    flags = set(fields.get("flags", "").split())
    extensions = " ".join(f for f in _KERNEL_FLAGS if f in flags) or "no AVX2"
    return f"{name} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')}; {extensions})"


def scoring_machine() -> str:
    """The CPU and the engines a figure was scored with: a training's weights, and any engine left
    at its default precision, differ by machine, so figures of different machines are not compared."""
    import importlib.metadata
    import platform

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = describe_cpu(Path("/proc/cpuinfo").read_text())
    engines = ", ".join(f"{e} {importlib.metadata.version(e)}" for e in ("onnxruntime", "openvino"))
    return f"{cpu}; {engines}"


@dataclass
class SequenceModel:
    """Ours: a tracklet's frames in chunks through the network, as the service does."""

    name: str
    fn: EmbedFn
    input_size: tuple[int, int]
    chunk: int = 16

    def __post_init__(self) -> None:
        self.timer = Timer()
        self._store = FrameStore(self.input_size)

    def _timed(self, x: torch.Tensor) -> torch.Tensor:
        with self.timer.measure(x.size(0) * x.size(1)):
            return self.fn(x)

    def embed(self, tracklets: Sequence[Tracklet]) -> np.ndarray:
        with torch.no_grad():
            return embed_tracklets(self._timed, tracklets, self.input_size, self.chunk, store=self._store)


@dataclass
class CropModel:
    """A peer: each crop alone, the unit vectors of a tracklet averaged and re-normalised."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    input_size: tuple[int, int]
    batch: int = 64
    timer: Timer = field(default_factory=Timer)

    def embed(self, tracklets: Sequence[Tracklet]) -> np.ndarray:
        store = FrameStore(self.input_size)
        paths = [(i, f) for i, t in enumerate(tracklets) for f in t.frames]
        sums = np.zeros((len(tracklets), 0), np.float32)
        for start in range(0, len(paths), self.batch):
            part = paths[start : start + self.batch]
            crops = store.load_many([f for _, f in part]).numpy()
            with self.timer.measure(len(crops)):
                vectors = self.fn(crops)
            if sums.shape[1] == 0:
                sums = np.zeros((len(tracklets), vectors.shape[1]), np.float32)
            np.add.at(sums, [i for i, _ in part], vectors)
        return normalise(sums)


@dataclass
class ServiceModel:
    """Ours as a user meets it: every tracklet uploaded to a running service's `POST /embed`."""

    url: str
    api_key: str | None = None
    name: str = "service"

    def __post_init__(self) -> None:
        self.timer = Timer()

    def _post(self, frames: Sequence[Path]) -> np.ndarray:
        boundary = uuid.uuid4().hex
        body = bytearray()
        for path in frames:
            body += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="frames"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            body += path.read_bytes() + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url.rstrip("/") + "/embed", bytes(body), headers, method="POST")
        with self.timer.measure(len(frames)), urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        if self.name == "service":
            self.name = f"service {answer['model']['name']} {answer['model']['version']}"
        return np.asarray(answer["embedding"], np.float32)

    def embed(self, tracklets: Sequence[Tracklet]) -> np.ndarray:
        return np.stack([self._post(t.frames) for t in tracklets])


# which people of a test set are scored: all, or one half by the parity of their number, so that the
# other half's crops can go into training without labels (`model_export crops`, `--unlabeled-root`)
# and the scored people are still ones no run has seen
People = Literal["all", "odd", "even"]


def open_test_set(name: str, data_root: Path, people: People = "all") -> ReIDSplit:
    if name in HELD_OUT_SITES:
        site = read_held_out_site(data_root / "peta", HELD_OUT_SITES[name])
        return people_half(ReIDSplit(name=name, train=[], query=site, gallery=site), people)
    if name not in TEST_SETS:
        sets = ", ".join([*TEST_SETS, *HELD_OUT_SITES])
        raise SystemExit(f"unknown test set {name!r}: the sets are {sets}")
    reader, folder = TEST_SETS[name]
    return people_half(open_split(reader, data_root / folder), people)


def people_half(split: ReIDSplit, people: People) -> ReIDSplit:
    """`split` with only the query and gallery tracklets of the chosen people."""
    if people == "all":
        return split
    keep = 1 if people == "odd" else 0
    return dataclasses.replace(
        split,
        name=f"{split.name} ({people} people)",
        query=[t for t in split.query if t.pid % 2 == keep],
        gallery=[t for t in split.gallery if t.pid % 2 == keep],
    )


def compare(
    candidates: Sequence[Candidate], data_root: Path, sets: Sequence[str], people: People = "all"
) -> list[dict[str, object]]:
    """One row per candidate: mean rank-1 and mAP per set, the true match rate at FALSE_MATCH_RATE on
    the unseen sets' pairs (None where they are too few to measure it), and frames/s over all sets."""
    splits = {name: open_test_set(name, data_root, people) for name in sets}
    rows = []
    for candidate in candidates:
        row: dict[str, object] = {}
        pairs = Pairs(np.zeros(0), np.zeros(0))
        for name, split in splits.items():
            q = candidate.embed(split.query)
            # a held-out site is its own gallery: embedded once
            g = q if split.gallery is split.query else candidate.embed(split.gallery)
            mean = summarise(score(split, cosine_distance(q, g)))["mean"]
            row[name] = {"rank1": mean["rank1"], "mAP": mean["mAP"]}  # type: ignore[index]
            print(f"{candidate.name} {name}: rank-1 {mean['rank1']:.3f} mAP {mean['mAP']:.3f}", flush=True)  # type: ignore[index]
            if name in UNSEEN:
                pairs = pairs + cross_camera_pairs(split, q, g)
        row["tmr"] = None
        if measurable(FALSE_MATCH_RATE, pairs.impostor.size):
            point = operating_points(pairs, "unseen", (FALSE_MATCH_RATE,)).points[0]
            row["tmr"] = {"threshold": point.threshold, "true_match_rate": point.true_match_rate}
        row["name"] = candidate.name
        row["frames_per_s"] = candidate.timer.crops_per_s
        rows.append(row)
    return rows


def held_out_mean(row: dict[str, object], sets: Sequence[str]) -> float | None:
    """The mean rank-1 over the training sites held out in `sets`: what candidates are chosen on
    (docs/model.md); None when no held-out site was scored."""
    sites = [s for s in sets if s in HELD_OUT_SITES]
    if not sites:
        return None
    return sum(float(row[s]["rank1"]) for s in sites) / len(sites)  # type: ignore[index]


def table(rows: Sequence[dict[str, object]], sets: Sequence[str]) -> str:
    tmr = f"true matches at {FALSE_MATCH_RATE:g} false ({', '.join(s for s in sets if s in UNSEEN)})"
    held = [s for s in sets if s in HELD_OUT_SITES]
    mean_head = f" held-out mean rank-1 ({', '.join(held)}) |" if held else ""
    head = (
        "| model | " + " | ".join(f"{s} rank-1 | {s} mAP" for s in sets) + f" |{mean_head} {tmr} | frames/s |"
    )
    lines = [head, "|" + " --- |" * (2 * len(sets) + 3 + bool(held))]
    for row in rows:
        cells = " | ".join(f"{row[s]['rank1']:.3f} | {row[s]['mAP']:.3f}" for s in sets)  # type: ignore[index]
        mean = held_out_mean(row, sets)
        mean_cell = f" {mean:.3f} |" if mean is not None else ""
        rate = row.get("tmr")
        at = f"{rate['true_match_rate']:.3f} (cos {rate['threshold']:.3f})" if isinstance(rate, dict) else "-"
        lines.append(f"| {row['name']} | {cells} |{mean_cell} {at} | {row['frames_per_s']:.0f} |")
    return "\n".join(lines)
