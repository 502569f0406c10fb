"""workers/engine package."""
