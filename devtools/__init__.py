"""Development tools (tests, benchmarks, scripts): never imported by the service itself."""
