"""The HTTP face: REST v1 (CONTRACT §5), Server-Sent Events (§6), health; thin over the store."""
