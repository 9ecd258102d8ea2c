"""CSS (seed 001): temporal self-supervised pose features with a time-variant / time-invariant split."""
