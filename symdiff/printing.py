"""Placeholder until the printers land (issue 5)."""


def pretty(node) -> str:
    return repr(node)
