"""`compare`: checkpoints, ONNX files, running services and the peers scored on the same sets
(CUHK03 val, VIPeR, PRID, or a held-out training site): one table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model_export.commands import command

NAME = "compare"


def add_parser(sub: Any) -> None:
    parser = command(
        sub,
        NAME,
        "CUHK03 val, VIPeR and PRID for checkpoints, ONNX files, a service and the peers: one table",
    )
    parser.add_argument("--checkpoint", type=Path, action="append", default=[])
    parser.add_argument("--onnx", type=Path, action="append", default=[])
    parser.add_argument(
        "--without-recurrence",
        action="store_true",
        help="also each recurrent checkpoint with its GRU-RCN zeroed: pooling of the same frame network",
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        help="URL of a running service: tracklets go to POST /embed (repeat: one service per model)",
    )
    parser.add_argument("--api-key", default=None, help="the service's key, where it needs one")
    parser.add_argument(
        "--peers", nargs="*", default=[], help="peer names, or `all` (see model_export/evaluation/peers.py)"
    )
    parser.add_argument(
        "--sets",
        nargs="+",
        default=["cuhk03", "viper", "prid"],
        help="also a training site by name (e.g. 3dpes), for models trained with --held-out-site",
    )
    parser.add_argument(
        "--people",
        choices=["all", "odd", "even"],
        default="all",
        help="score only the people with odd (even) numbers: the other half's crops can have gone into "
        "training unlabeled (`crops`), and the scored people are still unseen",
    )
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--peers-root", type=Path, default=Path("../shared/peers"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path("runs/compare"), help="writes table.md and rows.json"
    )


def candidates(args: argparse.Namespace) -> list[Any]:
    """Every model named on the command line, as `compare` scores them."""
    from model_export.engine.checkpoint import load_model
    from model_export.evaluation.compare import CropModel, SequenceModel, ServiceModel
    from model_export.evaluation.peers import INTEL_MODELS, OSNET_ONNX, build_peer
    from model_export.export.runtime import onnx_embed_fn
    from model_export.export.verify import open_session
    from model_export.modeling.network import without_recurrence
    from reid_contract import read_metadata

    found: list[Any] = []
    for path in args.checkpoint:
        net, cfg = load_model(path)
        found.append(SequenceModel(f"{path.parent.name}/{path.name}", net, net.input_size))
        if args.without_recurrence and cfg.head != "pooling":
            found.append(
                SequenceModel(
                    f"{path.parent.name}/{path.name} without recurrence",
                    without_recurrence(net),
                    net.input_size,
                )
            )
    for path in args.onnx:
        meta = read_metadata(path)
        fn = onnx_embed_fn(open_session(path, args.threads), meta)
        name = f"{meta.name} {meta.version} (ONNX)"
        found.append(SequenceModel(name, fn, (meta.height, meta.width), meta.frames_per_chunk))
    found += [ServiceModel(url, args.api_key) for url in args.service]
    names = [*INTEL_MODELS, Path(OSNET_ONNX).stem] if args.peers == ["all"] else args.peers
    for name in names:
        peer = build_peer(name, args.peers_root, args.threads)
        found.append(CropModel(name, peer, peer.input_size))
    return found


def run(args: argparse.Namespace) -> int:
    import torch

    from model_export.evaluation.compare import compare, scoring_machine, table

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    models = candidates(args)
    if not models:
        raise SystemExit("nothing to compare: give --checkpoint, --onnx, --service or --peers")
    rows = compare(models, args.data_root, args.sets, args.people)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=2))
    (args.out / "machine.txt").write_text(scoring_machine() + "\n")
    markdown = table(rows, args.sets)
    (args.out / "table.md").write_text(markdown + "\n")
    print(markdown)
    return 0
