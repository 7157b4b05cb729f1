"""The re-identification service: FastAPI over the engine that runs the model file fastest on the host
(OpenVINO on CPUs, ONNX Runtime with CUDA on GPUs); never imports torch or model_export.

`__version__` is the installed package's version: pyproject.toml's `version` is the one place it is
written. The model's version is its file's (GET /model).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("video-reid")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
