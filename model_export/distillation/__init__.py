"""Learning from peers whose licence allows it: their embeddings of our training crops as targets,
as training reads them (the cache's table, each teacher's weight per site). `teaching/` writes the
cache; this package reads it and sits below `data/`, whose dataset hands the targets out."""
