"""MCSS (seed 002) outside the network: canonical poses, the metric loss, batch sampling, evaluation and the
crop -> pose / embedding pipeline used by ``estimate --model mcss`` and ``embed --model mcss``."""
