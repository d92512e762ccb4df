"""The contrast and pregnancy rules (registered with clinical.safety.rule)."""
