"""posecli: videos of people -> 2D keypoints, 3D poses, body meshes, embeddings and alignments."""

__version__ = "0.1.0"
