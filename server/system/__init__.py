"""The service itself: health, readiness, docs, request ids and headers, JSON logs."""
