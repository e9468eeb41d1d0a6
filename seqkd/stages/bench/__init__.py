"""The bench room: speed, latency, memory, size and quality of several systems, side by side.

- systems: what a ``--system`` names, and the table of system kinds (fairseq, ct2)
- measure: one system measured in a child process of its own; the core to pin to
- report: typed rows, the speed signature, the Markdown report
- plot: BLEU against words/s with the Pareto front
- efficiency: the WMT efficiency-task protocol through ``seqkd translate``
- beside: how busy the machine was beside the bench
- compare: paired bootstrap differences and seed groups; ``seqkd compare``
- config: its settings (BenchConfig)
- blind: source files with no reference, translated for scoring elsewhere
- stage: the stage itself (bench)
- plan, kind: the bench section planned (its systems checked against the exports), ``seqkd
  bench``, ``seqkd compare``
"""

from seqkd.stages.bench.kind import KIND
from seqkd.stages.bench.config import BenchConfig
from seqkd.stages.bench.stage import bench
from seqkd.stages.bench.systems import SystemSpec

__all__ = ["KIND", "BenchConfig", "SystemSpec", "bench"]
