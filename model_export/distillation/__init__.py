"""Learning from peers whose licence allows it: their embeddings of our training crops as targets."""
