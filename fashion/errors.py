"""One base class for every expected failure: its message is a complete explanation for the user.

CLIs (``fashion/cli/errors.py``) turn any ``FashionError`` into one ``error: <message>`` line and exit
status 1; the web app turns it into a 4xx answer. Anything else is a bug and keeps its traceback.
Subclasses also derive from the built-in type they used to be (``ValueError`` mostly), so callers
that caught those keep working.
"""

from __future__ import annotations


class FashionError(Exception):
    """An expected failure (bad input, damaged file, missing data) with a message fit for the user."""
