"""Training recipes (one small module each) and what they share: clip sampling, weight files with cards."""
