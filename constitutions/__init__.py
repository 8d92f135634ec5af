"""Versioned constitution files (`<name>/v<N>.md`), read by `referee.judges`. Data only."""
