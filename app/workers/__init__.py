"""Background jobs: thin wrappers that open a unit of work and call a service."""
