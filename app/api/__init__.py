"""Transport: parse, authorize, call one service, render."""
