"""`make bench`: cost per operation, cold start, load and flash-sale benchmarks."""
