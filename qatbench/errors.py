"""The one marker of a user's mistake: every error a user can fix by changing what they
gave (a flag, a config, an input file, a place to write) inherits ``UserError``.

The CLI maps it to exit 2 in one place (``bench/cli/app.py: Commands``), printing the
message -- which names what is wrong and how to fix it -- so no command catches one and
none exits 70 ("internal error") for one. An error type keeps its other base
(``ValueError``, ``OSError``, ...) so code that handles that still does.

At the package's root, importing nothing, because user errors arise in every part.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input, a bad config or an unusable place: exit 2 with this message."""

    def user_message(self) -> str:
        """What the CLI prints (a ``KeyError`` subclass would otherwise print quoted)."""
        return str(self.args[0]) if isinstance(self, KeyError) and self.args else str(self)
