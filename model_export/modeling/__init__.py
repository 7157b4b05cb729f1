"""The network: per-frame backbones, convolutional GRUs, temporal heads, losses."""
