"""Tracklet records, dataset readers, sampling and augmentation."""
