"""chat-migrate: imports legacy localStorage chat exports into the sidecar store."""
