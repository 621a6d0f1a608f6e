"""llmpulse: a pull-based Prometheus exporter and monitoring bundle for LLM APIs."""

__version__ = "0.1.0"
