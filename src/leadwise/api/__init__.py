"""HTTP API: FastAPI app factory, dependencies, routers by resource, error handlers."""
