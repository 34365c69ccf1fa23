"""Batch jobs (Spark and others): pure functions of DataFrames plus a thin main."""
