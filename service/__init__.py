"""The re-identification service: FastAPI over ONNX Runtime; never imports torch or model_export."""
