"""Pure business rules: plain values in, plain values out, no I/O."""
