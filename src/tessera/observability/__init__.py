"""Metrics, structured logs and the request middleware that feeds both."""
