"""Every call Tenure makes to a provider (email, CRM) goes through this package, from workers
only: one shared HTTP client per process, one error type, every call recorded."""
