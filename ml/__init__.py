"""Forecasts: read features from the warehouse marts, train walk-forward, write predictions back."""
