"""Token streaming benchmark: Berth's chat API against the same model's ``generate``."""
