"""The one error the launchers raise: a message a person can act on, printed without a traceback."""


class StackError(RuntimeError):
    """A precondition of the embedded stack is not met; the message says what to do."""
