"""Stage 3: the engine that applies a checkpointed plan, lane by lane (one per extension), and
what steers it (attempt decisions, the rate limiter, the retry policy, the breaker) and what it
counts (stats)."""
