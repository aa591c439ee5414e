"""Query metrics and debugging, written once for both apps: Prometheus metrics, cursor-event timing, recorded
queries per request, the slow-query log."""
