"""The `frota` command: runs, migrates and administers the whole stack.

This is the composition root: the only package that imports every service.
"""
