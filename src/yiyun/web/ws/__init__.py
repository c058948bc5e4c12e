"""WebSocket surfaces."""
