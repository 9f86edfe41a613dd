"""YAML as actlab reads it: PyYAML's safe loader, with a key given twice in one mapping an error.

PyYAML keeps the last of two equal keys without a word, so a second ``grid:`` in a sweep file
silently replaced the first. :func:`safe_load` raises a ``yaml.YAMLError`` naming the key and
both lines instead (``<<`` merge keys may still be overridden, as YAML intends).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

#: The tag of a ``<<`` merge key.
_MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: SafeLoader reports it
                continue
            line = key_node.start_mark.line + 1
            if first != line:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} at lines {first} and {line} (YAML would keep only "
                    "the last; give each key once)",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def safe_load(stream: Any) -> Any:
    """``yaml.safe_load`` with :class:`UniqueKeyLoader`."""
    return yaml.load(stream, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
