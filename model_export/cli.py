"""`python -m model_export train|evaluate ...`: one CLI, options typed from `TrainConfig`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from model_export.config import TrainConfig
from model_export.evaluation.peers import DEFAULT_TEACHERS


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        hint, default = hints[f.name], f.default
        optional = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is types.UnionType and len(optional) == 1:
            hint = optional[0]  # `X | None`: an option of type X whose default is None
        flag = "--" + f.name.replace("_", "-")
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(hint) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(hint), default=default)
        elif typing.get_origin(hint) is tuple:
            items = typing.get_args(hint)
            count: int | str = "+" if Ellipsis in items else len(items)  # tuple[X, ...] or fixed
            listed = None if default is None else list(default)
            parser.add_argument(flag, type=items[0], nargs=count, default=listed)
        else:
            parser.add_argument(flag, type=hint, default=default)


def _config_from(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    # argparse gives lists for the tuple options (nargs)
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _split_command(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A command over a dataset's training split (the multi-site mix unless told otherwise)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--dataset", default="multisite")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_export", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train_p = sub.add_parser(
        "train", help="train (or resume) a network", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    _add_config_options(train_p)

    eval_p = sub.add_parser("evaluate", help="CMC / mAP of a checkpoint (or the untrained ImageNet baseline)")
    eval_p.add_argument("checkpoint", nargs="?", type=Path, help="a last.pt; omit with --imagenet-baseline")
    eval_p.add_argument(
        "--imagenet-baseline",
        action="store_true",
        help="untrained ImageNet MobileNetV2, frame features averaged",
    )
    eval_p.add_argument(
        "--without-recurrence",
        action="store_true",
        help="zero the GRU-RCN's contribution: what the recurrence adds, measured on the same weights",
    )
    eval_p.add_argument("--dataset", default=None, help="default: the checkpoint's")
    eval_p.add_argument("--data-root", type=Path, default=None)
    eval_p.add_argument("--split-id", type=int, default=None)
    eval_p.add_argument("--test-chunk", type=int, default=16)
    eval_p.add_argument("--out-dir", type=Path, default=Path("runs/eval"))

    export_p = sub.add_parser(
        "export",
        help="checkpoint -> ONNX (dynamic B and T, contract metadata), evaluated and verified",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    export_p.add_argument("checkpoint", type=Path)
    export_p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    export_p.add_argument("--name", required=True, help="model name, e.g. grurcn-mobilenetv2-cuhk03")
    export_p.add_argument("--semver", default="1.0.0", help="the weights' hash is appended: 1.0.0+3f2a9c1e")
    export_p.add_argument("--frames-per-chunk", type=int, default=16)
    export_p.add_argument("--slim", action=argparse.BooleanOptionalAction, default=True)
    export_p.add_argument(
        "--precision", choices=("fp32", "fp16"), default="fp32", help="fp16: the GPU variant (half the size)"
    )
    export_p.add_argument(
        "--data-root", type=Path, default=None, help="evaluate on this data (default: the checkpoint's)"
    )
    export_p.add_argument("--no-evaluate", action="store_true", help="write no evaluation figures")
    export_p.add_argument(
        "--calibration-root",
        type=Path,
        default=Path("../shared/data"),
        help="holds peta/VIPeR and peta/PRID: the file's thresholds are measured there",
    )
    export_p.add_argument("--threads", type=int, default=0)

    pretrained_p = sub.add_parser(
        "pretrained",
        help="a published backbone's weights as a checkpoint (no training): to fine-tune, export or compare",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pretrained_p.add_argument(
        "--backbone", default="osnet_x0_25", choices=("osnet_x0_25", "osnet_ibn_x0_25", "openvino_ir")
    )
    pretrained_p.add_argument(
        "--backbone-weights", type=Path, required=True, help="e.g. torchreid's osnet_x0_25_msmt17.pth"
    )
    pretrained_p.add_argument("--out", type=Path, required=True, help="the checkpoint to write")

    interpolate_p = sub.add_parser(
        "interpolate",
        help="fine-tuned checkpoints averaged and moved part of the way back to their published weights",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    interpolate_p.add_argument(
        "checkpoints",
        type=Path,
        nargs="+",
        help="the fine-tuned run's checkpoint; several runs from the same start are averaged first (a soup)",
    )
    interpolate_p.add_argument(
        "--start", type=Path, required=True, help="the published network it started from (`pretrained`)"
    )
    interpolate_p.add_argument(
        "--alpha", type=float, default=0.5, help="1: the fine-tuned weights, 0: the published ones"
    )
    interpolate_p.add_argument("--out", type=Path, required=True, help="the checkpoint to write")

    probe_p = sub.add_parser(
        "probe",
        help="write the parity probe's fp32 references into ONNX files (export does it; for older files)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    probe_p.add_argument("models", type=Path, nargs="+")
    probe_p.add_argument("--threads", type=int, default=0)

    quantize_p = sub.add_parser(
        "quantize",
        help="an exported file -> its int8 variant (sensitive layers in float), measured and verified",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    quantize_p.add_argument("model", type=Path, help="an fp32 file made by export")
    quantize_p.add_argument("--out", type=Path, required=True)
    quantize_p.add_argument(
        "--data-root",
        type=Path,
        default=Path("../shared/data"),
        help="holds cuhk03/ (calibration, evaluation) and peta/",
    )
    quantize_p.add_argument(
        "--tracklets", type=int, default=64, help="CUHK03 training tracklets to calibrate on"
    )
    quantize_p.add_argument("--threads", type=int, default=0)

    calibrate_p = sub.add_parser(
        "calibrate",
        help="measure an ONNX file's thresholds on unseen cameras (VIPeR, PRID) into its metadata",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    calibrate_p.add_argument("models", type=Path, nargs="+")
    calibrate_p.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="holds peta/")
    calibrate_p.add_argument("--threads", type=int, default=0)

    verify_p = sub.add_parser("verify", help="check an ONNX file against the contract (and a checkpoint)")
    verify_p.add_argument("model", type=Path)
    verify_p.add_argument("--checkpoint", type=Path, default=None, help="parity against this network")
    verify_p.add_argument(
        "--cuhk03-root", type=Path, default=None, help="also check parity on real frames of CUHK03 val"
    )
    verify_p.add_argument("--threads", type=int, default=0)

    teach_p = _split_command(
        sub, "teach", "embed every training crop with peer models once: the targets of distillation"
    )
    teach_p.add_argument("--peers-root", type=Path, default=Path("../shared/peers"))
    teach_p.add_argument(
        "--teachers",
        nargs="+",
        default=list(DEFAULT_TEACHERS),
        help="peers by name (model_export/evaluation/peers.py), or our own exported .onnx files (an "
        "ensemble taught to one network); a teacher's terms carry over to what it teaches",
    )
    teach_p.add_argument("--out", type=Path, default=Path("runs/teachers/multisite.npz"))
    teach_p.add_argument(
        "--unlabeled-root",
        type=Path,
        default=None,
        help="also every crop of this folder of tracks without identities (train --unlabeled-root)",
    )
    teach_p.add_argument("--threads", type=int, default=0)

    pack_p = _split_command(
        sub,
        "pack",
        "a split, its frames and its teachers' vectors in one folder, to train where the data is not",
    )
    pack_p.add_argument("--split-id", type=int, default=0)
    pack_p.add_argument(
        "--held-out-site", default=None, help="a site packed as the evaluation set instead of for training"
    )
    pack_p.add_argument("--teacher-cache", type=Path, default=None, help="what `teach` wrote for this data")
    pack_p.add_argument(
        "--unlabeled-root",
        type=Path,
        default=None,
        help="tracks without identities to carry along (under <pack>/unlabeled; their teachers' vectors too)",
    )
    pack_p.add_argument("--out", type=Path, required=True, help="a new folder; read it with --dataset pack")

    compare_p = sub.add_parser(
        "compare",
        help="CUHK03 val, VIPeR and PRID for checkpoints, ONNX files, a service and the peers: one table",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    compare_p.add_argument("--checkpoint", type=Path, action="append", default=[])
    compare_p.add_argument("--onnx", type=Path, action="append", default=[])
    compare_p.add_argument(
        "--without-recurrence",
        action="store_true",
        help="also each recurrent checkpoint with its GRU-RCN zeroed: pooling of the same frame network",
    )
    compare_p.add_argument(
        "--service",
        action="append",
        default=[],
        help="URL of a running service: tracklets go to POST /embed (repeat: one service per model)",
    )
    compare_p.add_argument("--api-key", default=None, help="the service's key, where it needs one")
    compare_p.add_argument(
        "--peers", nargs="*", default=[], help="peer names, or `all` (see model_export/evaluation/peers.py)"
    )
    compare_p.add_argument(
        "--sets",
        nargs="+",
        default=["cuhk03", "viper", "prid"],
        help="also a training site by name (e.g. 3dpes), for models trained with --held-out-site",
    )
    compare_p.add_argument(
        "--people",
        choices=["all", "odd", "even"],
        default="all",
        help="score only the people with odd (even) numbers: the other half's crops can have gone into "
        "training unlabeled (`crops`), and the scored people are still unseen",
    )
    compare_p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    compare_p.add_argument("--peers-root", type=Path, default=Path("../shared/peers"))
    compare_p.add_argument("--threads", type=int, default=0)
    compare_p.add_argument(
        "--out", type=Path, default=Path("runs/compare"), help="writes table.md and rows.json"
    )

    return parser


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from model_export.data.readers import open_split
    from model_export.engine.checkpoint import build_model, load_model
    from model_export.evaluation.evaluator import evaluate
    from model_export.modeling.network import without_recurrence

    if args.imagenet_baseline:
        cfg = TrainConfig(head="pooling")
        net = build_model(cfg, num_classes=1).eval()

        def embed(x: torch.Tensor) -> torch.Tensor:
            return F.normalize(net.features(x)[0], dim=1)
    elif args.checkpoint is not None:
        net, cfg = load_model(args.checkpoint)
        if args.without_recurrence:
            if cfg.head == "pooling":
                raise SystemExit(f"{args.checkpoint} has no recurrence (head {cfg.head})")
            net = without_recurrence(net)
        embed = net
    else:
        raise SystemExit("give a checkpoint or --imagenet-baseline")
    dataset = args.dataset or cfg.dataset
    root = args.data_root or cfg.data_root
    split_id = cfg.split_id if args.split_id is None else args.split_id
    split = open_split(dataset, root, split_id, cfg.held_out_site if args.dataset is None else None)
    with torch.no_grad():
        return evaluate(embed, split, net.input_size, args.test_chunk, args.out_dir, plots=True)


def _compare(args: argparse.Namespace) -> int:
    import torch

    from model_export.engine.checkpoint import load_model
    from model_export.evaluation.compare import (
        CropModel,
        SequenceModel,
        ServiceModel,
        compare,
        scoring_machine,
        table,
    )
    from model_export.evaluation.peers import INTEL_MODELS, OSNET_ONNX, build_peer
    from model_export.export.runtime import onnx_embed_fn, read_metadata
    from model_export.export.verify import open_session
    from model_export.modeling.network import without_recurrence

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    candidates: list = []
    for path in args.checkpoint:
        net, cfg = load_model(path)
        candidates.append(SequenceModel(f"{path.parent.name}/{path.name}", net, net.input_size))
        if args.without_recurrence and cfg.head != "pooling":
            candidates.append(
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
        candidates.append(SequenceModel(name, fn, (meta.height, meta.width), meta.frames_per_chunk))
    candidates += [ServiceModel(url, args.api_key) for url in args.service]
    names = [*INTEL_MODELS, Path(OSNET_ONNX).stem] if args.peers == ["all"] else args.peers
    for name in names:
        peer = build_peer(name, args.peers_root, args.threads)
        candidates.append(CropModel(name, peer, peer.input_size))
    if not candidates:
        raise SystemExit("nothing to compare: give --checkpoint, --onnx, --service or --peers")
    rows = compare(candidates, args.data_root, args.sets, args.people)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=2))
    (args.out / "machine.txt").write_text(scoring_machine() + "\n")
    markdown = table(rows, args.sets)
    (args.out / "table.md").write_text(markdown + "\n")
    print(markdown)
    return 0


def _teach(args: argparse.Namespace) -> int:
    from model_export.data.readers import open_split
    from model_export.data.readers.unlabeled import read_unlabeled
    from model_export.distillation.file_teacher import ContractFileTeacher
    from model_export.distillation.teacher_cache import CropEmbedFn, build_teacher_cache
    from model_export.evaluation.peers import build_peer

    split = open_split(args.dataset, args.data_root)
    frames = [f for t in split.train for f in t.frames]
    if args.unlabeled_root is not None:
        frames += [f for t in read_unlabeled(args.unlabeled_root) for f in t.frames]
    teachers: dict[str, CropEmbedFn] = {}
    sizes = set()
    for spec in args.teachers:
        teacher = (
            ContractFileTeacher(Path(spec), threads=args.threads)
            if spec.endswith(".onnx")
            # OpenVINO's fastest precision: training needs no bit-equal targets across machines
            else build_peer(spec, args.peers_root, args.threads, precision=None)
        )
        teachers[teacher.name] = teacher
        sizes.add(teacher.input_size)
    if len(sizes) != 1:
        raise SystemExit(f"teachers of different input sizes {sorted(sizes)}: build one cache per size")
    out = build_teacher_cache(frames, teachers, args.out, input_size=sizes.pop())
    print(f"{len(set(frames))} crops x {len(teachers)} teachers -> {out}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from model_export.data.pack import write_pack
    from model_export.data.readers import open_split
    from model_export.data.readers.unlabeled import read_unlabeled

    split = open_split(args.dataset, args.data_root, args.split_id, args.held_out_site)
    unlabeled = read_unlabeled(args.unlabeled_root) if args.unlabeled_root is not None else []
    out = write_pack(split, args.out, args.teacher_cache, unlabeled=unlabeled)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(split.summary())
    print(f"-> {out} ({size / 1e6:.1f} MB); train on it with --dataset pack --data-root {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "probe":
        from model_export.export.probe import write_probe

        for path in args.models:
            probe = write_probe(path, args.threads).probe
            assert probe is not None
            print(f"{path}: probe references for {len(probe.lengths)} tracklets ({probe.computed_with})")
        return 0
    if args.command == "quantize":
        from model_export.export.commands import quantize_command

        return quantize_command(args)
    if args.command in ("export", "verify", "calibrate"):
        from model_export.export.commands import (
            calibrate_command,
            export_command,
            verify_command,
        )

        command = {
            "export": export_command,
            "verify": verify_command,
            "calibrate": calibrate_command,
        }
        return command[args.command](args)
    if args.command == "pretrained":
        from model_export.engine.pretrained import write_pretrained

        print(write_pretrained(args.backbone, args.backbone_weights, args.out))
        return 0
    if args.command == "interpolate":
        from model_export.engine.interpolate import write_interpolated

        try:
            how = write_interpolated(args.checkpoints, args.start, args.alpha, args.out)
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        runs = ", ".join(how.fine_tuned)
        print(f"{how.alpha:g} of the way from {how.start} to the mean of {runs} -> {args.out}")
        return 0
    if args.command == "compare":
        return _compare(args)
    if args.command == "teach":
        return _teach(args)
    if args.command == "pack":
        return _pack(args)
    if args.command == "train":
        from model_export.engine.train import train

        summary = train(_config_from(args))
    else:
        summary = _evaluate(args)
    print(json.dumps(summary, indent=2))
    return 0
