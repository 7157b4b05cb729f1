"""Settings, errors and metrics: what every other part of the service is configured by."""
