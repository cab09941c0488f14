"""The one way a domain says no.

A ``Refusal`` is a request the rules turn down (a resolved incident, an approver who may not
approve, a window already over): nothing was changed, and its message is written for the person
who asked, so the handlers show it as it is. Anything else that escapes a flow is a bug: logged,
and answered with one "something went wrong, nothing changed" text (``handlers/replies.py``).
"""

from __future__ import annotations


class Refusal(Exception):
    """A request the rules refuse; nothing changed. The message is shown to the user as is."""
