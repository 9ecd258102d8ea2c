"""Multi-person 2D keypoint tracking: backends, identity association, smoothing, the track pipeline."""
