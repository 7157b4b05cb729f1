"""HTTP layer: routers, dependencies, request parsing and the error handlers."""
