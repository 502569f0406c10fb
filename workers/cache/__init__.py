"""workers/cache package."""
