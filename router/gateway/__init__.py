"""The OpenAI-compatible gateway: request/response models, output parsers, error mapping."""
