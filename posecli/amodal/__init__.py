"""Probabilistic amodal completion (seed 000): canonical pose representation and the ``complete`` pipeline."""
