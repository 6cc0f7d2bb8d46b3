"""Stage 3: the engine that applies a checkpointed plan, and what steers it (attempt decisions,
the rate limiter, retry policy, the breaker) and what it counts (stats)."""
