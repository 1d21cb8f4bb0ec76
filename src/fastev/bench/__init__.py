"""Benchmark support: realistic record generators, peer implementations, runners."""
