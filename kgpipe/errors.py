"""The one kind of error a user sees as ``kgpipe: error: <message>`` (exit status 2).

Every module raises its own subclass (``InputError``, ``RuleError``, ``StoreError``, ...) with a message
written for the person at the command line; :func:`kgpipe.cli.main` turns any of them into that line, in
one place. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class CommandError(Exception):
    """A command cannot do what was asked; the message says why and, where it can, what to do."""
