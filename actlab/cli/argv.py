"""Reading a command line before jsonargparse does: the values of given options.

actlab looks at a training command line before parsing it (config files checked first, the
files an unknown option may come from); every such look goes through :func:`option_values`, so
``--config FILE`` and ``--config=FILE`` are read alike everywhere. Light: no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def option_values(argv: Sequence[str], *flags: str) -> Iterator[tuple[str, str]]:
    """``(flag, value)`` for each of ``flags`` in ``argv``, in order, given as ``FLAG VALUE`` or
    ``FLAG=VALUE`` (a flag at the end without a value is left to the parser to report)."""
    for index, token in enumerate(argv):
        name, has_value, value = token.partition("=")
        if name not in flags:
            continue
        if has_value:
            yield name, value
        elif index + 1 < len(argv):
            yield name, argv[index + 1]
