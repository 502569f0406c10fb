"""The cluster's router: gRPC front door, cache-aware policies, and the OpenAI gateway."""
