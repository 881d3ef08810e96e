"""Headless subcommands: one module each, exposing ``register(subparsers)``.

``register`` adds a subparser and sets ``func`` to a callable taking the parsed args and
returning an exit code. Errors are printed as one clear line and return a non-zero code.
"""
