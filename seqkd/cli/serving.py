"""``seqkd serve`` and ``seqkd serve-bench``: an exported model behind HTTP, and its load
measurement."""

from __future__ import annotations

from seqkd.options import add_arguments, config_from

#: seqkd translate's settings that a server does not take (fairseq models, stdin blocks)
NOT_SERVED = ("data", "ensemble", "batch_lines")


def build_serve(sub) -> None:
    from seqkd.serve import ServeConfig
    from seqkd.translate import TranslateConfig

    p = sub.add_parser("serve", help="serve an exported model over HTTP (LibreTranslate's "
                                     "API, n-best, health, Prometheus metrics)",
                       description="Serve an `seqkd export` folder over HTTP: POST /translate "
                                   "and GET /languages as LibreTranslate has them, POST "
                                   "/v1/translate (n-best with scores), GET /v1/model, GET "
                                   "/health, GET /metrics. Concurrent requests are batched. "
                                   "SIGTERM stops accepting, finishes the requests in flight "
                                   "and exits 0.")
    p.add_argument("model", help="an `seqkd export` output folder (or its model/)")
    add_arguments(p, TranslateConfig, skip=NOT_SERVED)
    add_arguments(p, ServeConfig)
    p.set_defaults(beam=1, func=cmd_serve)  # greedy: what a deployed student runs
    for action in p._actions:
        if action.dest == "beam":
            action.help = action.help.replace("(default: 5)", "(default: 1)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="log warnings and errors only (no line a request)")


def cmd_serve(args) -> int:
    from seqkd.errors import SeqkdError
    from seqkd.serve import ServeConfig, serve
    from seqkd.ct2_folder import is_ct2_folder
    from seqkd.translate import TranslateConfig

    if not is_ct2_folder(args.model):  # before translate's words for a fairseq checkpoint
        raise SeqkdError(f"seqkd serve takes an `seqkd export` folder (a CTranslate2 model "
                         f"with its SentencePiece model); {args.model} is not one: export it "
                         "with `seqkd export`")
    return serve(config_from(TranslateConfig, args), config_from(ServeConfig, args))


def build_serve_bench(sub) -> None:
    from seqkd.serve.load import LoadConfig

    p = sub.add_parser("serve-bench", help="measure `seqkd serve` under load beside `seqkd "
                                           "translate`",
                       description="Start `seqkd serve` on a model as a separate process, "
                                   "drive it with concurrent clients on loopback (the test "
                                   "file's sentences, one or more a request), and run `seqkd "
                                   "translate` on the same sentences and cores: words/s, "
                                   "latency, errors, the server's memory. Writes report.json "
                                   "and report.md.")
    p.add_argument("model", help="an `seqkd export` output folder")
    p.add_argument("--test-file", required=True, dest="test_file",
                   help="source sentences, one a line (a prepared test set's text/TEST.SRC)")
    p.add_argument("--out", required=True, dest="out_dir", help="output folder")
    add_arguments(p, LoadConfig)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_serve_bench)


def cmd_serve_bench(args) -> int:
    import sys

    from seqkd.serve.load import LoadConfig, serve_bench
    from seqkd.serve.load_report import markdown

    report = serve_bench(config_from(LoadConfig, args))
    sys.stdout.write(markdown(report))
    return 0
