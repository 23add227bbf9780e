"""Benchmarks for raytune-llm searchers (test functions, harness, LLM backends)."""
