"""Tenure: a headless client-retention engine."""
