"""Service layer: keyword-only functions the API routes and CLI commands call; they own transactions."""
