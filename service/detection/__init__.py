"""People found in footage without the user's tracker: a person detector on the engine layer
(`detector`), a maintained tracker from the registry (`tracker`), and the pass over a video that turns
them into the same tracks a parsed tracker file gives (`pipeline`)."""
