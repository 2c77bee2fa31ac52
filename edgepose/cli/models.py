"""``edgepose models``: list the known models and fetch them."""

from __future__ import annotations

import argparse

from edgepose.cli import add_config, add_verbosity
from edgepose.config import load_config
from edgepose.errors import InputError
from edgepose.modelstore.locate import cache_dir, locate, search_dirs
from edgepose.modelstore.manifest import load_manifest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list and fetch models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lp = msub.add_parser("list", help="known models and whether they are present")
    add_config(lp)
    add_verbosity(lp)
    lp.set_defaults(func=list_models)
    fp = msub.add_parser("fetch", help="download a model from its official URL and verify its checksum")
    add_config(fp)
    add_verbosity(fp)
    fp.add_argument("names", nargs="+", metavar="NAME")
    fp.add_argument("--dir", help="where to store it (default: the model cache directory)")
    fp.add_argument("--if-missing", action="store_true", help="do nothing for a name already present")
    fp.set_defaults(func=fetch_models)


def list_models(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    dirs = search_dirs(config.model.dirs, config.model.cache_dir)
    for entry in load_manifest().values():
        try:
            where = str(locate(entry.name, dirs))
        except InputError:
            where = "-"
        tpu = "edgetpu" if entry.edgetpu else entry.kind if entry.kind != "model" else "cpu"
        print(f"{entry.name:44} {tpu:8} {entry.format:20} {where}")
    return 0


def fetch_models(args: argparse.Namespace) -> int:
    from edgepose.modelstore.fetch import fetch

    config = load_config(args.config, args.overrides)
    manifest = load_manifest()
    dirs = search_dirs(config.model.dirs, config.model.cache_dir)
    target = cache_dir(args.dir or config.model.cache_dir)
    for name in args.names:
        entry = manifest.get(name)
        if entry is None:
            raise InputError(f"unknown model {name!r}", "see `edgepose models list`")
        if args.if_missing:
            try:
                print(f"{name}: present at {locate(name, dirs)}")
                continue
            except InputError:
                pass
        path = fetch(entry, target)
        print(f"{name}: {path}")
    return 0
