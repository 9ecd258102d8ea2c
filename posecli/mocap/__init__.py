"""Training data from motion capture: BVH reading, rig maps to canonical joint sets, prepared datasets."""
