"""The compliance evidence: the audit store, its reports, and the reconciliation an auditor runs."""
