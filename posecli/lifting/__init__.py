"""2D -> 3D lifting: input normalisation, windowing over long videos, the estimate pipeline."""
