"""LLM judges that score responses against versioned constitutions (RLAIF)."""

__all__: list[str] = []
