"""Aligning two performances of the same motion: cost matrices and dynamic time warping."""
from posecli.align.dtw import (METRICS, DtwResult, SubsequenceMatch, cost_matrix, dtw, dtw_distance, feature_dtw,
                               feature_dtw_distance, matrix_dtw, path_to_mapping)

__all__ = ["METRICS", "DtwResult", "SubsequenceMatch", "cost_matrix", "dtw", "dtw_distance", "feature_dtw",
           "feature_dtw_distance", "matrix_dtw", "path_to_mapping"]
