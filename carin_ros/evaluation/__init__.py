"""Evaluation of CARIn against its baselines: use cases, scenarios, window metrics, reports."""
