#!/bin/sh
# The Dockerfile's builder, one recipe for both images: make /opt/venv with the service's runtime
# and the service, from the sources in the working directory (pyproject.toml, constraints.txt,
# reid_contract/, service/).
#
#   sh build-venv.sh ORT_PACKAGE CHECK [EXTRAS]
#
# ORT_PACKAGE: the ONNX Runtime distribution that replaces `onnxruntime` in the project's dependency
# list (onnxruntime on the CPU image, onnxruntime-gpu on the GPU one). CHECK: Python code run last in
# the venv, which fails the build when the image could not serve (imports, providers). EXTRAS: the
# Dockerfile's build argument, optional extras of pyproject.toml to serve with, comma-separated: only
# `milvus` (the Milvus client, for REID_MILVUS_URI; docs/deployment.md, "Milvus") and `index` (faiss)
# are accepted, never the training side, the dev tools or Milvus Lite.
set -eu
ort_package=$1
check=$2
extras=${3:-}
# python3.11-venv (ensurepip) only where the interpreter lacks it; it stays in the builder stage.
if ! python3.11 -c "import ensurepip" 2>/dev/null; then
    apt-get update
    apt-get install -y --no-install-recommends python3.11-venv
    apt-get clean
    rm -rf /var/lib/apt/lists/*
fi
python3.11 -m venv /opt/venv
PATH=/opt/venv/bin:$PATH
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Behind a TLS-intercepting proxy: the CA bundle given as the optional build secret pip_ca.
if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi
# The runtime requirements are the project's own list with onnxruntime swapped for ORT_PACKAGE, plus
# the extras named in EXTRAS (refused unless `milvus` or `index`), each at the version of
# constraints.txt (what CI tested; scripts/lock.sh), then the project itself without dependencies:
# no other optional extra (training) can get in.
python -c "import re, sys, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e for e in sys.argv[2].split(',') if e]; bad = set(extras) - {'milvus', 'index'}; bad and sys.exit(f'EXTRAS: {sorted(bad)} cannot go in an image (milvus, index)'); deps = p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]; print('\n'.join(re.sub(r'^onnxruntime(?=[<>=!~ ;\[]|$)', sys.argv[1], d) for d in deps))" "$ort_package" "$extras" > requirements.txt
pip install --no-cache-dir -c constraints.txt -r requirements.txt
# ByteTrack for footage without a tracker file, without its own requirements: trackers asks for the GUI
# opencv-python, which would overwrite the headless OpenCV, supervision for PyAV and matplotlib, never
# loaded; what they import is in the list above (pyproject.toml, the `tracker` extra).
pip install --no-cache-dir -c constraints.txt --no-deps trackers==2.6.1 supervision==0.31.2
pip install --no-cache-dir --no-deps .
# The two ONNX Runtime wheels shadow each other (the GPU one then silently runs on the CPU): the
# build fails if the other one got in too.
python -c "import importlib.metadata as md, sys; names = {d.metadata['Name'].lower() for d in md.distributions()}; bad = names & ({'onnxruntime', 'onnxruntime-gpu'} - {sys.argv[1]}); sys.exit(f'both ONNX Runtime wheels installed: {sorted(bad)}' if bad else 0)" "$ort_package"
# The Milvus client without Milvus Lite (pyarrow, ~170 MB): the image talks to a server.
python -c "import importlib.metadata as md, sys; names = {d.metadata['Name'].lower() for d in md.distributions()}; sys.exit('milvus-lite got into the image' if 'milvus-lite' in names else 0)"
case ",$extras," in *,milvus,*) python -c "import pymilvus" ;; esac
# No build tools in the venv that the image copies.
pip uninstall --no-cache-dir -y -q pip setuptools
python -c "$check"
