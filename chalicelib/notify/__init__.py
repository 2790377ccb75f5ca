"""Devices, the outbox publisher (stream → SNS) and mobile push."""
