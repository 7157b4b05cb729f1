"""Training side of the video person re-identification service.

Network (CNN + convolutional GRUs + temporal pooling), dataset readers, training, evaluation. The
ONNX file this package exports is the only thing the serving side ever sees of it.

It has no version of its own: the project's is pyproject.toml's, the model's is written into its file.
"""
