"""ONNX export of the network and the checks that make its file a contract."""
