#!/usr/bin/env bash
# Issue 36's claims, once every stage of pipelines/multi30k-en-de-captions.yaml but its bench
# and choose is done (and the student of pipelines/multi30k-en-de-captions-ensemble.yaml, a
# system of that bench): the exports not made yet, then ONE bench run with nothing else
# running (its blind test_2018_flickr outputs included), the choice on test_2016_flickr, then
# the copies to commit: report, plot, choice, every output gzipped, and every difference of
# the report computed again from them.
#   SEQKD_DATA_MIRROR=../shared/datasets scripts/captions_final.sh PREFIX
# e.g. PREFIX=docs/multi30k-captions-final: PREFIX-report.{json,md}, PREFIX-plot.png,
# PREFIX-choice.md, PREFIX-kd-gain/, PREFIX-scored-overlap.md, PREFIX-outputs/
# (SYSTEM.t1.TEST.txt.gz and the blind SYSTEM.test_2018_flickr.de.gz). The bench takes about
# 1.5 hours on one core. CONFIG (default the captions config) names another config with a
# bench, blind and choose section.
set -euo pipefail
if [ $# != 1 ]; then echo "usage: scripts/captions_final.sh PREFIX" >&2; exit 1; fi
prefix=$1
C=${CONFIG:-pipelines/multi30k-en-de-captions.yaml}
W=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['work_dir'])" "$C")
# refused while a training or distillation is unfinished (the bench must run alone); only
# prepare (done already, or seconds: a bench-only config's own), the exports, the bench and
# choose run, so no finished stage is looked at again
status=$(seqkd run $C --status --json)
left=$(python3 -c 'import json, sys; print(*(r["stage"] for r in json.load(sys.stdin)
  if r["state"] != "done" and r["kind"] not in ("prepare", "export", "bench", "choose")))' \
  <<<"$status")
if [ -n "$left" ]; then echo "not finished yet:" $left >&2; exit 1; fi
seqkd run $C --only prepare $(python3 -c 'import json, sys; print(*(r["stage"]
  for r in json.load(sys.stdin) if r["kind"] == "export"))' <<<"$status") bench choose
cp $W/bench/report.json "$prefix-report.json"
cp $W/bench/report.md "$prefix-report.md"
cp $W/bench/plot.png "$prefix-plot.png"
cp $W/choose/choice.md "$prefix-choice.md"
mkdir -p "$prefix-outputs"
for f in $W/bench/outputs/*.txt; do gzip -9nc "$f" > "$prefix-outputs/$(basename "$f").gz"; done
cp $W/bench/outputs/*.gz "$prefix-outputs/"  # the blind sets' outputs
seqkd compare "$prefix-report.json" --outputs "$prefix-outputs" --data $W/data \
  --json "$prefix-compare.json" > /dev/null
seqkd kd-gain "$prefix-report.json" --out "$prefix-kd-gain"
# the report's test_2017_flickr differences again without the lines whose source is a
# caption too: a check that none is left (prepare drops them since commit 1d384f1; a data
# folder prepared before it kept 3)
python3 scripts/scored_overlap.py $W/data "$prefix-outputs" test_2017_flickr \
  "$prefix-report.json" > "$prefix-scored-overlap.md"
grep "^\*\*Chosen" "$prefix-choice.md"
