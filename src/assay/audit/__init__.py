"""``assay.audit``: which rows of a table are mislabelled, outlying or duplicated."""

from assay.audit.core import AuditResult, audit

__all__ = ["AuditResult", "audit"]
