"""``assay.audit``: which rows of a table are mislabelled, outlying or duplicated."""

from assay.audit.core import AuditResult, audit
from assay.audit.detectors import knn_proba
from assay.audit.report import audit_report, write_table
from assay.audit.stacking import combine, combine_probas, model_weights, stack

__all__ = [
    "AuditResult",
    "audit",
    "audit_report",
    "combine",
    "combine_probas",
    "knn_proba",
    "model_weights",
    "stack",
    "write_table",
]
