"""Running the served model: its ONNX Runtime session, frame preprocessing, chunking and combining."""
