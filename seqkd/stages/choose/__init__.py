"""The choose room: the protocol's choice of a system from a bench report, made on the
choosing sets only, with what the report then claims of it elsewhere.

- select: the choice itself (pure: a report in, a choice out) and its Markdown
- runner: the stage (ChooseConfig, choose_stage): choice.json and choice.md in its folder
- kind: the ``choose`` section planned after the bench; ``seqkd choose``
"""

from seqkd.stages.choose.kind import KIND

__all__ = ["KIND"]
