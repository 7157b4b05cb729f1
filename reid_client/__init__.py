"""`reid`: a command-line client of the re-identification service (stdlib only: no torch, no numpy)."""
