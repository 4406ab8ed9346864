"""``assay.audit``: which rows of a table are mislabelled, outlying or duplicated."""

from assay.audit.core import (
    AuditResult,
    audit,
    combine,
    combine_probas,
    knn_proba,
    model_weights,
    stack,
)
from assay.audit.report import audit_report, write_table

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
