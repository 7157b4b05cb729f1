"""Uploads to frames: sniffing by magic bytes, size limits before decoding, and decoding to RGB uint8."""
