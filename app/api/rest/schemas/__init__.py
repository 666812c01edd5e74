"""Request and response bodies: XCreate / XUpdate / XRead per resource."""
