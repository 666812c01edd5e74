"""Every query lives here and takes a workspace id; repositories flush, services commit."""
