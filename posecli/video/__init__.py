"""Video input and output: probe a video/image folder/image, stream its frames as RGB, encode frames to H.264."""
from .probe import VideoInfo, probe
from .reader import Frame, read_frames
from .writer import VideoWriter

__all__ = ["Frame", "VideoInfo", "VideoWriter", "probe", "read_frames"]
