"""The YAML files seqkd reads (configs, dataset manifests, stage settings): safe types only,
no anchors or aliases, no key given twice; one clear error otherwise."""

from __future__ import annotations

import yaml

from seqkd.errors import SeqkdError


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases: a config never needs them, and
    nested aliases ("billion laughs") expand a few lines into gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SeqkdError(f"YAML aliases (*{event.anchor}) are not allowed in seqkd files "
                             f"(line {event.start_mark.line + 1}); write the values out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        """A mapping whose keys are all different: PyYAML keeps the last of two equal keys
        silently, so a setting added again further down a long config would undo the first
        without a word."""
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if first is not None:
                    lines = f"lines {first} and {line}" if first != line else f"on line {line}"
                    raise SeqkdError(f"{key!r} is given twice in one mapping ({lines}); the "
                                     "second would silently replace the first: keep one")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, where: str):
    """The data of a YAML document (safe types only, no aliases); one clear error otherwise."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except SeqkdError as e:
        raise SeqkdError(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        raise SeqkdError(f"{where} is not valid YAML: {e}") from None
    except RecursionError:
        raise SeqkdError(f"{where}: its lists or mappings nest too deeply to read (thousands of "
                         "levels); a seqkd file needs a few") from None
