"""REST resources under /v1, one router per resource."""
