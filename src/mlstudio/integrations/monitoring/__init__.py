"""Monitoring: n-aware drift, seasonal anomaly detection with human feedback, alerts.

``drift`` and ``anomaly`` are pure statistics (numpy/scipy imported inside functions);
``feedback`` holds the feedback vocabulary and precision/recall; ``service`` stores monitors,
windows, alerts and feedback and emits ``monitor.alert`` / ``monitor.resolved`` webhooks.
"""
