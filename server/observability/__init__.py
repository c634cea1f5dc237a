"""What the service tells about itself as it runs: JSON log lines, Prometheus metrics, the
event-loop guard."""
