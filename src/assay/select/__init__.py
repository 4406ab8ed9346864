"""Turning values into data: budgets, trimming, coresets, active-learning rounds.

Import from the submodules (``assay.select.trim``, ``assay.select.sensitivity``, ...).
"""
