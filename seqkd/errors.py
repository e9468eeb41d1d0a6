"""The one error type of seqkd.

Library code raises :class:`SeqkdError` with a message that says what is wrong
and what to do about it; the command line prints the message and exits 1.
"""


class SeqkdError(Exception):
    """A problem the user can fix: bad input, a missing file, a conflicting run."""
