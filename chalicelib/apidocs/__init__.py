"""Local API reference: the OpenAPI document and an interactive docs page."""
