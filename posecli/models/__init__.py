"""Neural networks (plain ``torch.nn.Module``s, no I/O)."""
