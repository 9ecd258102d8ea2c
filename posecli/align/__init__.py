"""Aligning two performances of the same motion: cost matrices and dynamic time warping."""
from posecli.align.dtw import METRICS, DtwResult, cost_matrix, dtw, dtw_distance, path_to_mapping

__all__ = ["METRICS", "DtwResult", "cost_matrix", "dtw", "dtw_distance", "path_to_mapping"]
