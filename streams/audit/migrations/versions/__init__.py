"""One module per revision of the audit store's schema, oldest first."""
