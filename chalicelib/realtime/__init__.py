"""WebSocket delivery of messages, typing and read receipts."""
