"""``seqkd pack`` and ``seqkd unpack``: a finished stage folder carried between machines."""

from __future__ import annotations

import json


def build_pack(sub) -> None:
    p = sub.add_parser("pack", help="pack a stage folder for a trip to another machine",
                       description="Write OUT.tgz (the folder's files, checkpoints/ aside) and, "
                                   "for a training folder, OUT.pt (the checkpoint it stands "
                                   "for, weights in float16, settings as JSON, no optimizer "
                                   "state). `seqkd unpack OUT --into FOLDER` puts it back.")
    p.add_argument("stage_dir", help="a stage folder (e.g. WORK/student-x)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.tgz, .pt")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_pack)


def cmd_pack(args) -> int:
    from seqkd.travel import pack

    print(json.dumps(pack(args.stage_dir, args.out), indent=2))
    return 0


def build_unpack(sub) -> None:
    p = sub.add_parser("unpack", help="unpack what seqkd pack wrote into a folder",
                       description="Extract PREFIX.tgz into FOLDER (plain files and folders "
                                   "inside it only; links, absolute names, '..' and archives "
                                   "over the size bound are refused before anything is "
                                   "written) and rebuild the checkpoint from PREFIX.pt, read "
                                   "with torch.load(weights_only=True): nothing is unpickled. "
                                   "Stamps hold absolute paths: unpack into the folder the "
                                   "stage ran in.")
    p.add_argument("prefix", help="what seqkd pack --out was given")
    p.add_argument("--into", required=True, metavar="FOLDER", help="the stage folder")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_unpack)


def cmd_unpack(args) -> int:
    from seqkd.travel import unpack

    print(json.dumps(unpack(args.prefix, args.into), indent=2))
    return 0
