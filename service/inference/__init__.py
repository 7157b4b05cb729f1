"""Running the served model: the engine chosen for the host (OpenVINO on CPUs, at bf16 where the CPU
computes it natively; ONNX Runtime with CUDA on GPUs, and on CPUs without OpenVINO), the file's
contract and parity held at load, frame preprocessing and the micro-batcher; the selection, chunking
and combining of frames are the contract's (`reid_contract.tracklet`)."""
