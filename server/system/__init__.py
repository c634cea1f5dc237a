"""The service itself: health, readiness, docs and console, security headers and the access
log of each answer, the connection layer, the purger and the reminder scheduler."""
