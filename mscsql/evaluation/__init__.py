"""Benchmark evaluation: loaders, scorers that agree with the official tools, a resumable runner."""
