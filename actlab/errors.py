"""Exception types for user-facing errors: the CLI prints them as one line, without a traceback."""


class ActlabError(ValueError):
    """Bad user input (config value, name, file) that the CLI reports as one line and exit code 2."""


class UnknownNameError(ActlabError, KeyError):
    """A name that is not in a registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def unknown_name_message(kind: str, name: str, valid: list[str], *, show: int = 40) -> str:
    """Build "unknown <kind> 'x'; did you mean ...? valid: a, b, c" for a registry miss.

    Args:
        kind: what the name names ("model", "activation", ...).
        name: the name that was given.
        valid: every valid name.
        show: at most this many valid names are listed; the rest are counted.
    """
    import difflib

    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    head = f"unknown {kind} {name!r}; "
    if close:
        head += f"did you mean {', '.join(repr(c) for c in close)}? "
    if show == 0:
        return f"{head}valid: "
    listed = ", ".join(sorted(valid)[:show])
    more = f" (and {len(valid) - show} more)" if len(valid) > show else ""
    return f"{head}valid: {listed}{more}"


def find_user_error(err: BaseException) -> ActlabError | None:
    """The :class:`ActlabError` behind ``err`` (jsonargparse and Lightning wrap errors raised in
    ``__init__`` and hooks), or ``None`` when ``err`` is a bug that should keep its traceback."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ActlabError):
            return current
        stack += [current.__cause__, current.__context__]
    return None


def one_line(text: object) -> str:
    """``text`` on one line: every run of whitespace, newlines included, becomes one space."""
    return " ".join(str(text).split())


def first_line(text: object, default: str = "") -> str:
    """The first line of ``text`` (an exception's message), stripped; ``default`` when empty."""
    stripped = str(text).strip()
    return stripped.splitlines()[0] if stripped else default


def error_line(err: BaseException) -> str:
    """``"RestException: INTERNAL_ERROR: ..."``: an error's type and the first line of its text
    (at most 300 characters), for a one-line message."""
    return f"{type(err).__name__}: {first_line(err)}"[:300]
