"""Faust agents: each one decodes its topic, calls the pure core, and emits."""
