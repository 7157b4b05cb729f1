"""A published OpenVINO IR re-id network as a trainable frame backbone.

Intel's `person-reidentification-retail-*` models (Apache-2.0) are the strongest re-id networks users
run on unseen cameras, and they ship only as OpenVINO IR: a graph of ~550 operations with their weights
folded in. Rather than re-typing each one's architecture by hand (and getting a detail wrong), this
module turns the IR graph itself into PyTorch: every operation becomes a small step module, every float
constant a trainable parameter, so the network runs, trains and exports exactly as published and
then learns from our data. Parity with OpenVINO on the same crops is what the tests check.

What is resolved once, when the graph is read, and never in the exported graph:
- shape arithmetic (ShapeOf / Gather / Concat feeding a Reshape): the IR's shapes are static with
  batch 1, so each Reshape keeps its static target with the batch left free;
- the channel order: the IR reads BGR 0-255, our frames come RGB, so a fixed channel swap comes first;
- weights shared by several operations (OSNet's channel gate, shared by its four streams) get one
  copy per use: identical at the start, free to differ after fine-tuning.

Levels for the GRU-RCN: the outputs of the graph's downsampling average pools and the last map before
its global pooling; the rest of the graph (global pooling, fc, norm) is the frame head.

Another input size than the published one: Intel's networks pool their last map with a depthwise
convolution as large as the map (16x8 at 256x128), the one place where the graph's weights know the
size. For another size that kernel is resampled to the new map (bilinear, each channel's sum kept, so a
uniform map gives the same vector); the trunk's own reshapes act on pooled 1x1 vectors and do not care.
Weights of the published size (a checkpoint to start from) are resampled the same way as they load.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model_export.modeling.backbones.base import Backbone

_SHAPE_OPS = {"ShapeOf"}
_DATA_OPS = {
    "Convolution",
    "GroupConvolution",
    "Add",
    "Multiply",
    "Subtract",
    "MVN",
    "Relu",
    "Sigmoid",
    "PRelu",
    "MaxPool",
    "AvgPool",
    "ReduceMean",
    "Reshape",
    "MatMul",
    "Gather",
}


class _Step(nn.Module):
    """One IR operation: reads earlier values by index, returns its own."""

    def __init__(self, src: int) -> None:
        super().__init__()
        self.src = src


class _Conv(_Step):
    def __init__(self, src: int, weight: np.ndarray, attrs: dict[str, Any], groups: int) -> None:
        super().__init__(src)
        if groups > 1:  # IR: (G, O/G, I/G, kh, kw); torch: (O, I/G, kh, kw)
            weight = weight.reshape(-1, *weight.shape[2:])
        self.weight = nn.Parameter(torch.from_numpy(weight.copy()))
        self.stride = list(attrs["strides"])
        self.dilation = list(attrs["dilations"])
        begin, end = list(attrs["pads_begin"]), list(attrs["pads_end"])
        self.padding = begin
        self.extra = [0, end[1] - begin[1], 0, end[0] - begin[0]]  # asymmetric remainder, usually 0
        self.asymmetric = any(p != 0 for p in self.extra)
        self.groups = groups

    # The graph's global pooling (a depthwise kernel as large as the last map): weights of another
    # map size, from a network of another input size, are resampled to this one's as they load.
    resamples_on_load = False

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        key = prefix + "weight"
        incoming = state_dict.get(key)
        if self.resamples_on_load and incoming is not None and incoming.shape[2:] != self.weight.shape[2:]:
            state_dict[key] = _resample_kernel(incoming, (self.weight.shape[2], self.weight.shape[3]))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, values: list[Tensor]) -> Tensor:
        x = values[self.src]
        if self.asymmetric:
            x = F.pad(x, self.extra)
        return F.conv2d(x, self.weight, None, self.stride, self.padding, self.dilation, self.groups)


class _Binary(_Step):
    """Add / Multiply / Subtract of two values, or of a value and a constant (then a parameter)."""

    def __init__(self, op: str, src: int, other: int, const: np.ndarray | None) -> None:
        super().__init__(src)
        self.op = op
        self.other = other
        self.const = nn.Parameter(torch.from_numpy(const.copy())) if const is not None else None

    def forward(self, values: list[Tensor]) -> Tensor:
        x = values[self.src]
        const = self.const
        y = const if const is not None else values[self.other]
        if self.op == "Add":
            return x + y
        if self.op == "Multiply":
            return x * y
        return x - y


class _MVN(_Step):
    """OpenVINO's mean-variance normalisation: instance norm (spatial axes) or group norm (after a
    reshape to groups), biased variance, eps inside the square root."""

    def __init__(self, src: int, axes: list[int], eps: float) -> None:
        super().__init__(src)
        self.axes = axes
        self.eps = eps

    def forward(self, values: list[Tensor]) -> Tensor:
        x = values[self.src]
        if self.axes == list(range(x.dim() - len(self.axes), x.dim())):
            # the trailing axes, as in every MVN of Intel's networks: one LayerNormalization node in
            # the ONNX graph instead of seven small ones (the same arithmetic: biased variance, eps
            # inside the root), which ONNX Runtime runs in one pass
            # (the sizes are constants of the trace: the traced graph is for one input size anyway)
            shape = [int(d) for d in x.shape[-len(self.axes) :]]
            return F.layer_norm(x, shape, eps=self.eps)
        mean = x.mean(dim=self.axes, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=self.axes, keepdim=True)
        return centred / torch.sqrt(var + self.eps)


class _Unary(_Step):
    def __init__(self, op: str, src: int) -> None:
        super().__init__(src)
        self.op = op

    def forward(self, values: list[Tensor]) -> Tensor:
        if self.op == "Relu":
            return torch.relu(values[self.src])
        return torch.sigmoid(values[self.src])


class _PRelu(_Step):
    def __init__(self, src: int, slope: np.ndarray) -> None:
        super().__init__(src)
        self.slope = nn.Parameter(torch.from_numpy(slope.copy()))

    def forward(self, values: list[Tensor]) -> Tensor:
        x = values[self.src]
        return torch.where(x >= 0, x, x * self.slope)


class _Pool(_Step):
    def __init__(self, op: str, src: int, attrs: dict[str, Any]) -> None:
        super().__init__(src)
        if list(attrs["pads_begin"]) != list(attrs["pads_end"]):
            raise ValueError(f"{op} with asymmetric padding is not supported")
        self.op = op
        self.kernel = list(attrs["kernel"])
        self.stride = list(attrs["strides"])
        self.padding = list(attrs["pads_begin"])
        self.ceil = attrs.get("rounding_type", "floor") == "ceil"
        self.include_pad = not attrs.get("exclude-pad", True)

    def forward(self, values: list[Tensor]) -> Tensor:
        x = values[self.src]
        if self.op == "MaxPool":
            return F.max_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil)
        return F.avg_pool2d(x, self.kernel, self.stride, self.padding, self.ceil, self.include_pad)


class _ReduceMean(_Step):
    def __init__(self, src: int, axes: list[int], keep: bool) -> None:
        super().__init__(src)
        self.axes = axes
        self.keep = keep

    def forward(self, values: list[Tensor]) -> Tensor:
        return values[self.src].mean(dim=self.axes, keepdim=self.keep)


class _Reshape(_Step):
    """The IR's static target with its batch dimension left to the input."""

    def __init__(self, src: int, tail: list[int]) -> None:
        super().__init__(src)
        self.tail = tail

    def forward(self, values: list[Tensor]) -> Tensor:
        x = values[self.src]
        return x.reshape([x.size(0), *self.tail])


class _MatMul(_Step):
    def __init__(self, src: int, weight: np.ndarray, transpose_b: bool) -> None:
        super().__init__(src)
        w = weight if transpose_b else weight.T  # stored as torch's (out, in)
        self.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(w)))

    def forward(self, values: list[Tensor]) -> Tensor:
        return F.linear(values[self.src], self.weight)


class _Gather(_Step):
    def __init__(self, src: int, indices: list[int], axis: int) -> None:
        super().__init__(src)
        self.register_buffer("indices", torch.tensor(indices, dtype=torch.long))
        self.axis = axis

    def forward(self, values: list[Tensor]) -> Tensor:
        return values[self.src].index_select(self.axis, self.indices)


def _resample_kernel(weight: Tensor, size: tuple[int, int]) -> Tensor:
    """A (C, 1, kh, kw) global depthwise kernel at another spatial size, each channel's sum kept (for
    a channel whose kernel sums to about zero, its scale by the ratio of areas instead)."""
    if tuple(weight.shape[2:]) == size:
        return weight
    resized = F.interpolate(weight, size=size, mode="bilinear", align_corners=False)
    old, new = weight.sum(dim=(2, 3), keepdim=True), resized.sum(dim=(2, 3), keepdim=True)
    area = weight[0, 0].numel() / resized[0, 0].numel()
    tiny = new.abs() < 1e-6 * weight.abs().sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    ratio = torch.where(tiny, torch.full_like(new, area), old / torch.where(tiny, torch.ones_like(new), new))
    return resized * ratio


def _const(node: Any) -> np.ndarray | None:
    """The value behind an input if it is a constant (through an fp16 -> fp32 Convert), else None."""
    if node.get_type_name() == "Convert" and node.input_value(0).get_node().get_type_name() == "Constant":
        node = node.input_value(0).get_node()
    if node.get_type_name() != "Constant":
        return None
    data = np.asarray(node.get_data())
    return data.astype(np.float32) if np.issubdtype(data.dtype, np.floating) else data


class _Graph:
    """The IR read once: its steps in order, which value each op's output is, and its shapes."""

    def __init__(self, xml: Path) -> None:
        import openvino as ov  # training-side only; the service never reads IR files

        model = ov.Core().read_model(str(xml))
        params = model.get_parameters()
        if len(params) != 1 or list(params[0].get_output_shape(0))[:2] != [1, 3]:
            raise ValueError(f"{xml}: expected one (1, 3, H, W) image input")
        self.input_size = tuple(int(v) for v in params[0].get_output_shape(0)[2:])
        self.index: dict[str, int] = {params[0].get_friendly_name(): 1}  # 0 is the RGB input
        self.shapes: dict[int, list[int]] = {0: [1, 3, *self.input_size], 1: [1, 3, *self.input_size]}
        self.steps: list[tuple[int, nn.Module, list[int]]] = []  # (value index, step, value inputs)
        shape_only: set[str] = set()
        output = None
        for op in model.get_ordered_ops():
            kind, name = op.get_type_name(), op.get_friendly_name()
            if kind in ("Constant", "Convert", "Parameter"):
                continue
            if kind == "Result":
                output = self._ref(op.input_value(0).get_node())
                continue
            ins = [i.get_source_output().get_node() for i in op.inputs()]
            on_shapes = all(n.get_friendly_name() in shape_only or _const(n) is not None for n in ins)
            if kind in _SHAPE_OPS or (kind in ("Gather", "Concat") and on_shapes):
                shape_only.add(name)
                continue
            if kind not in _DATA_OPS:
                raise ValueError(f"{xml}: operation {kind} ({name}) is not supported")
            if name in self.index:
                raise ValueError(f"{xml}: two operations are named {name}; values are found by name")
            step, srcs = self._step(kind, op, ins)
            value = len(self.shapes)
            self.index[name] = value
            self.shapes[value] = list(op.get_output_shape(0))
            self.steps.append((value, step, srcs))
        if output is None:
            raise ValueError(f"{xml}: no output")
        self.output = output

    def _ref(self, node: Any) -> int:
        name = node.get_friendly_name()
        if name not in self.index:
            raise ValueError(f"operation {name} reads {node.get_type_name()}, which is not a value")
        return self.index[name]

    def _step(self, kind: str, op: Any, ins: list[Any]) -> tuple[nn.Module, list[int]]:
        attrs = op.get_attributes()
        src = self._ref(ins[0])
        if kind in ("Convolution", "GroupConvolution"):
            weight = _const(ins[1])
            assert weight is not None, "convolution weights must be constant"
            groups = weight.shape[0] if kind == "GroupConvolution" else 1
            return _Conv(src, weight, attrs, groups), [src]
        if kind in ("Add", "Multiply", "Subtract"):
            const = _const(ins[1])
            if const is None and _const(ins[0]) is not None:  # constant first: swap (Subtract excluded)
                if kind == "Subtract":
                    raise ValueError("constant - value is not supported")
                const, src = _const(ins[0]), self._ref(ins[1])
            other = src if const is not None else self._ref(ins[1])
            return _Binary(kind, src, other, const), [src, other]
        if kind == "MVN":
            axes = _const(ins[1])
            rank = len(op.get_input_shape(0))
            eps_mode = str(attrs.get("eps_mode", "INSIDE_SQRT")).upper()
            if not attrs.get("normalize_variance", True) or eps_mode != "INSIDE_SQRT":
                raise ValueError("only MVN with variance, eps inside the square root, is supported")
            axes_list = sorted(int(a) % rank for a in np.atleast_1d(axes))
            return _MVN(src, axes_list, float(attrs["eps"])), [src]
        if kind in ("Relu", "Sigmoid"):
            return _Unary(kind, src), [src]
        if kind == "PRelu":
            slope = _const(ins[1])
            assert slope is not None, "PReLU slope must be constant"
            rank = len(op.get_input_shape(0))
            if slope.size > 1:  # per channel: broadcast over axis 1
                slope = slope.reshape(1, -1, *([1] * (rank - 2)))
            return _PRelu(src, slope), [src]
        if kind in ("MaxPool", "AvgPool"):
            return _Pool(kind, src, attrs), [src]
        if kind == "ReduceMean":
            axes = _const(ins[1])
            rank = len(op.get_input_shape(0))
            axes_list = sorted(int(a) % rank for a in np.atleast_1d(axes))
            return _ReduceMean(src, axes_list, bool(attrs["keep_dims"])), [src]
        if kind == "Reshape":
            before, after = list(op.get_input_shape(0)), list(op.get_output_shape(0))
            if before[0] != 1 or after[0] != 1:
                raise ValueError("a Reshape that moves the batch axis is not supported")
            return _Reshape(src, [int(v) for v in after[1:]]), [src]
        if kind == "MatMul":
            weight = _const(ins[1])
            if weight is None or attrs.get("transpose_a", False):
                raise ValueError("only value x constant MatMul is supported")
            return _MatMul(src, weight, bool(attrs.get("transpose_b", False))), [src]
        # Gather on data: constant indices along a constant axis (the input's channel swap)
        indices, axis = _const(ins[1]), _const(ins[2])
        assert indices is not None and axis is not None, "Gather on data needs constant indices and axis"
        return _Gather(src, [int(i) for i in np.atleast_1d(indices)], int(np.atleast_1d(axis)[0])), [src]


def _global_pool(graph: _Graph) -> int:
    """Position (in `graph.steps`) of the last op that reduces a map to 1x1: the frame head starts there."""
    for pos in range(len(graph.steps) - 1, -1, -1):
        value, _, srcs = graph.steps[pos]
        before, after = graph.shapes[srcs[0]], graph.shapes[value]
        if len(before) == 4 and len(after) == 4 and before[2:] != [1, 1] and after[2:] == [1, 1]:
            return pos
    raise ValueError("no global pooling found: cannot tell the frame head from the trunk")


_FREED = torch.empty(0)  # what a released value's slot holds: no step reads it again


def _release_plan(sources: list[list[int]], keep: set[int]) -> list[list[int]]:
    """For each trunk step, the values (by number: 0 RGB, 1 BGR, 2 + step) that no later step reads
    and that are not levels, to drop once it has run. Without it a forward holds every intermediate
    map of the graph at once, and an eager evaluation of a few hundred frames outgrows a machine."""
    last_read: dict[int, int] = {}
    for pos, srcs in enumerate(sources):
        for src in srcs:
            last_read[src] = pos
    plan: list[list[int]] = [[] for _ in sources]
    for value, pos in last_read.items():
        if value not in keep:
            plan[pos].append(value)
    return plan


def _renumber(step: nn.Module, mapping: dict[int, int]) -> None:
    step.src = mapping[step.src]
    if isinstance(step, _Binary):
        step.other = mapping[step.other]


class OpenVinoIRNet(Backbone):
    """The trunk's steps return the level maps; the head's steps turn the last one into a frame vector.

    Input: RGB scaled to 0-255 (the pixel mean 0 and std 1/255 below); the graph does its own
    normalisation, as published.
    """

    pixel_mean = (0.0, 0.0, 0.0)
    pixel_std = (1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0)
    gru_hidden = (16, 32, 64)
    # Set per file below, read when the network is built; TorchScript need not type them.
    __jit_ignored_attributes__: list[str] = ["name", "input_size", "level_channels", "frees"]  # noqa: RUF012

    def __init__(self, xml: Path, input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        graph = _Graph(xml)
        self.name = f"openvino_ir:{xml.stem}"
        self.input_size = graph.input_size  # type: ignore[misc]
        split = _global_pool(graph)
        last = graph.steps[split][2][0]
        trunk, head = graph.steps[:split], graph.steps[split:]
        pools = [v for v, s, _ in trunk if isinstance(s, _Pool) and s.op == "AvgPool"]
        self.level_ids = [*pools, last]
        self.level_channels = tuple(graph.shapes[v][1] for v in self.level_ids)  # type: ignore[misc]
        # Trunk values keep the numbers the graph gave them (0 RGB, 1 BGR, then one per step, in
        # order); the head is renumbered from 0, its input, so it runs on the last level alone.
        head_map = {last: 0}
        for pos, (value, step, srcs) in enumerate(head):
            for s in srcs:
                if s not in head_map:
                    raise ValueError(f"the frame head reads value {s} of the trunk, not only the last map")
            _renumber(step, head_map)
            head_map[value] = pos + 1
        if graph.output not in head_map:
            raise ValueError("the graph's output is not computed by its head")
        self.output_id = head_map[graph.output]
        self.swap = _Gather(0, [2, 1, 0], 1)  # RGB -> BGR, what the IR reads
        self.trunk = nn.ModuleList([s for _, s, _ in trunk])
        self.frees = _release_plan([srcs for _, _, srcs in trunk], keep=set(self.level_ids))
        self.head = nn.ModuleList([s for _, s, _ in head])
        self._frame_dim = int(graph.shapes[graph.output][-1])
        pool = self.head[0]
        if isinstance(pool, _Conv) and pool.groups == pool.weight.shape[0] and pool.weight.shape[1] == 1:
            pool.resamples_on_load = list(pool.weight.shape[2:]) == graph.shapes[last][2:]
        if input_size is not None and tuple(input_size) != self.input_size:
            self._resize((int(input_size[0]), int(input_size[1])))

    def _resize(self, size: tuple[int, int]) -> None:
        """Take frames of `size`: the global pooling kernel follows the last map's new size."""
        pool = self.head[0]
        if not isinstance(pool, _ReduceMean) and not (isinstance(pool, _Conv) and pool.resamples_on_load):
            raise ValueError(
                f"{self.name}'s global pooling is neither a mean nor a depthwise kernel over the whole "
                f"map: it only takes {self.input_size[0]}x{self.input_size[1]} frames"
            )
        try:
            with torch.no_grad():
                last = self(torch.zeros(1, 3, *size))[-1]
        except RuntimeError as exc:
            raise ValueError(f"{self.name} cannot take {size[0]}x{size[1]} frames: {exc}") from exc
        if isinstance(pool, _Conv):
            kernel = _resample_kernel(pool.weight.detach(), (last.shape[2], last.shape[3]))
            pool.weight = nn.Parameter(kernel.contiguous())
        self.input_size = size  # type: ignore[misc]

    @property
    def frame_dim(self) -> int:
        return self._frame_dim

    def scriptable(self) -> nn.Module:
        """Traced: scripted, the value list loses the tensors' types and the ONNX exporter cannot
        type the graph. The trace is exact here, since the graph has no data-dependent control flow,
        and the batch stays free (each Reshape reads it from its input)."""
        example = torch.rand(2, 3, *self.input_size) * 255
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's own deprecation notice
            last = self(example)[-1]
            return torch.jit.trace_module(self, {"forward": example, "frame_vectors": last}, strict=False)

    def forward(self, x: Tensor) -> list[Tensor]:
        values: list[Tensor] = [x]
        values.append(self.swap(values))
        for step, frees in zip(self.trunk, self.frees, strict=True):
            values.append(step(values))
            for value in frees:  # read by no later step: let it go, or all ~500 maps stay alive
                values[value] = _FREED
        return [values[i] for i in self.level_ids]

    def frame_vectors(self, last_level: Tensor) -> Tensor:
        values: list[Tensor] = [last_level]
        for step in self.head:
            values.append(step(values))
        return values[self.output_id]
