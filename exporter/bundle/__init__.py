"""The monitoring bundle: Grafana, Prometheus and Alertmanager files generated from the metric contract."""
