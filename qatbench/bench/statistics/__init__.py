"""Latency statistics, the regression gate and the history of runs."""
