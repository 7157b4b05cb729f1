"""The teachers run over every training crop once, into the cache `distillation/` reads: the peers
by name, or our own exported files read through the contract. It sits above `export/`: a teacher
can be a file that `export` wrote."""
