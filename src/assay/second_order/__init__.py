"""The second-order stack: derivatives, Hessian solvers, K-FAC, the twice-differentiable view of a
learner and inverse-Hessian products.

It sits below :mod:`assay.valuation` and :mod:`assay.select` (which use it for influence, local
influence and acquisition functions) and above :mod:`assay.learners` (whose fitted models it
differentiates).
"""
