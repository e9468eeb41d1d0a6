"""Stage 6, bench: speed, latency, memory, size and quality of several systems, side by side.

- systems: what a ``--system`` names, and the table of system kinds (fairseq, ct2)
- measure: one system measured in a child process of its own; the core to pin to
- report: typed rows, the speed signature, the Markdown report
- plot: BLEU against words/s with the Pareto front
- efficiency: the WMT efficiency-task protocol through ``seqkd translate``
- stage: the stage itself (BenchConfig, bench)
"""

from seqkd.bench.stage import BenchConfig, bench
from seqkd.bench.systems import SystemSpec

__all__ = ["BenchConfig", "SystemSpec", "bench"]
