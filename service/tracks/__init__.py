"""A camera's video and its tracker's boxes -> per-track crops the model can embed (POST /tracks).

trackfile (MOTChallenge CSV or JSON boxes, parsed within limits) -> plan (which boxes make usable
crops, which frames of each track to embed, why a track is skipped) -> cut (one pass over the video,
keeping only the planned crops at the model's input size).
"""
