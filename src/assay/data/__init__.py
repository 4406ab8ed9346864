"""Data in: the immutable :class:`Dataset`, readers, bundled datasets, splits, noise injection."""

from assay.data.bundled import dataset_names, load_dataset
from assay.data.dataset import Dataset, check_features, encode_labels
from assay.data.encode import TableEncoder
from assay.data.io import encode_frame, from_pandas, read_frame, read_table
from assay.data.noise import add_feature_noise, flip_labels
from assay.data.splits import Split, fold_assignment, split_dataset, standardize

__all__ = [
    "Dataset",
    "Split",
    "TableEncoder",
    "add_feature_noise",
    "check_features",
    "dataset_names",
    "encode_frame",
    "encode_labels",
    "flip_labels",
    "fold_assignment",
    "from_pandas",
    "load_dataset",
    "read_frame",
    "read_table",
    "split_dataset",
    "standardize",
]
