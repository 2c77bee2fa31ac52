"""``edgepose models``: list the known models, fetch them, inspect a model file."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from edgepose.cli import add_config, add_verbosity, log_level
from edgepose.config import load_config
from edgepose.errors import InputError
from edgepose.logs import setup_logging
from edgepose.modelstore.locate import cache_dir, locate, search_dirs
from edgepose.modelstore.manifest import MANIFEST_PATH, ModelEntry, fetch_order, load_manifest

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, fetch and inspect models")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    lp = msub.add_parser("list", help="known models and where each is present")
    _common(lp)
    lp.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    lp.set_defaults(func=list_models)

    fp = msub.add_parser("fetch", help="download models from their official URLs and verify their checksums")
    _common(fp)
    fp.add_argument("names", nargs="+", metavar="NAME")
    fp.add_argument("--dir", help="where to store them (default: the model cache directory)")
    fp.add_argument("--if-missing", action="store_true", help="do nothing for a name already present")
    fp.add_argument(
        "--base-url",
        default=os.environ.get("EDGEPOSE_MODEL_BASE_URL", ""),
        help="fetch <BASE_URL>/<file> from a mirror instead (default: $EDGEPOSE_MODEL_BASE_URL)",
    )
    fp.add_argument("--no-progress", action="store_true", help="no progress bar")
    fp.set_defaults(func=fetch_models)

    ip = msub.add_parser("inspect", help="inputs, outputs, quantization, format, Edge TPU and custom ops of a model")
    _common(ip)
    ip.add_argument("model", metavar="PATH|NAME")
    ip.add_argument("--json", action="store_true", help="one JSON document instead of text")
    ip.set_defaults(func=inspect_models)

    sp = msub.add_parser("strip", help="write a Coral PoseNet model without its PosenetDecoderOp (for stock LiteRT)")
    add_verbosity(sp)
    sp.add_argument("input", metavar="IN", help="a .tflite file ending in PosenetDecoderOp")
    sp.add_argument("output", metavar="OUT", help="where to write the model without the op")
    sp.set_defaults(func=strip_model)


def _common(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_verbosity(parser)
    parser.add_argument("--manifest", type=Path, default=MANIFEST_PATH, help="the model manifest (default: built in)")


def _setup(args: argparse.Namespace):
    config = load_config(args.config, args.overrides)
    setup_logging(log_level(args, config.logging.level), config.logging.format)
    return config, load_manifest(args.manifest), search_dirs(config.model.dirs, config.model.cache_dir)


def list_models(args: argparse.Namespace) -> int:
    _config, manifest, dirs = _setup(args)
    rows = []
    for entry in manifest.values():
        try:
            where = str(locate(entry.name, dirs, manifest))
        except InputError:
            where = ""
        rows.append((entry, where))
    if args.json:
        print(json.dumps([_entry_dict(e, where) for e, where in rows], indent=2))
        return 0
    print(f"{'NAME':42} {'RUNS ON':8} {'FORMAT':19} {'INPUT':9} {'SHA256':7} {'LICENSE':10} PRESENT AT")
    for entry, where in rows:
        runs = "edgetpu" if entry.edgetpu else ("cpu" if entry.kind in ("model", "export") else entry.kind)
        size = "x".join(str(v) for v in entry.input) if entry.input else "-"
        sha = "pinned" if entry.sha256 else ("-" if entry.kind == "export" else "unknown")
        missing = "- (export: see models fetch NAME)" if entry.kind == "export" else "- (edgepose models fetch)"
        print(f"{entry.name:42} {runs:8} {entry.format:19} {size:9} {sha:7} {entry.license:10} {where or missing}")
    exports = sorted({e.license for e in manifest.values() if e.kind == "export"})
    if exports:
        print(
            f"\n{', '.join(exports)}: weights edgepose never downloads; you export them yourself "
            "(`edgepose models fetch NAME` prints the command)"
        )
    return 0


def _entry_dict(entry: ModelEntry, where: str) -> dict:
    return {
        "name": entry.name,
        "file": entry.file,
        "url": entry.url or None,
        "sha256": entry.sha256 or None,
        "format": entry.format,
        "input": list(entry.input) if entry.input else None,
        "edgetpu": entry.edgetpu,
        "cpu_variant": entry.cpu_variant or None,
        "kind": entry.kind,
        "license": entry.license or None,
        "requires": list(entry.requires),
        "export": entry.export or None,
        "present": where or None,
    }


def fetch_models(args: argparse.Namespace) -> int:
    import sys

    from edgepose.modelstore.fetch import ProgressBar, fetch

    config, manifest, dirs = _setup(args)
    target = Path(args.dir).expanduser() if args.dir else cache_dir(config.model.cache_dir)
    # Every name checked before anything is downloaded; a BlazePose landmark model brings its
    # detector into the same directory, where the daemon looks for it first.
    for entry in fetch_order(args.names, manifest):
        if args.if_missing:
            try:
                found = locate(entry.name, dirs, manifest)
            except InputError:
                pass
            else:
                linked = link_into(entry, found, target)
                print(f"{entry.name}: present at {found}" + (f" (linked as {linked})" if linked else ""))
                continue
        bar = None if args.no_progress else ProgressBar(entry.name, sys.stderr)
        path = fetch(entry, target, base_url=args.base_url, progress=bar)
        print(f"{entry.name}: {path}")
    return 0


def link_into(entry: ModelEntry, found: Path, target: Path) -> Path | None:
    """A model found outside the fetch directory (EDGEPOSE_MODEL_DIRS, as ``make run`` sets it for a
    shared folder), linked into it once its checksum matches, so that commands typed later without
    that setting find it by name too; None when nothing was linked (already there, or a mismatch)."""
    from edgepose.modelstore.fetch import sha256_of, writable_directory

    link = target / entry.file
    if found.parent.resolve() == target.resolve() or link.exists():
        return None
    if entry.sha256 and sha256_of(found) != entry.sha256:
        log.warning("%s at %s is not the manifest's file (checksum differs): not linked", entry.name, found)
        return None
    try:
        writable_directory(target)
        link.unlink(missing_ok=True)  # a dangling link left by a folder that moved
        link.symlink_to(found.resolve())
    except (InputError, OSError) as exc:  # a convenience: the model is there, only not by name later
        log.warning("%s: not linked into %s (%s)", entry.name, target, getattr(exc, "message", exc))
        return None
    return link


def inspect_models(args: argparse.Namespace) -> int:
    from edgepose.modelstore.info import inspect_model

    _config, manifest, dirs = _setup(args)
    info = inspect_model(locate(args.model, dirs, manifest), manifest)
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return 0
    tpu = "yes (needs a Coral and libedgetpu)" if info.edgetpu_compiled else "no"
    decoder = "" if info.decoder else " (no decoder for it in this build)"
    lines = [
        f"file:          {info.path} ({info.size_bytes} bytes)",
        f"edge tpu:      {tpu}",
        f"quantization:  {info.quantization}",
        f"format:        {info.format}{decoder}",
        f"custom ops:    {', '.join(info.custom_ops) or 'none'}",
        *([f"model:         {info.description}"] if info.description else []),
        *([f"licence:       {info.license}"] if info.license else []),
        *([f"manifest:      {info.entry.name} (checksum {info.manifest_match})"] if info.entry is not None else []),
        *[f"input:         {t.describe()}" for t in info.inputs],
        *[f"output:        {t.describe()}" for t in info.outputs],
    ]
    if info.runs_as != info.outputs:
        lines += [f"runs as:       {t.describe()}  (after removing PosenetDecoderOp)" for t in info.runs_as]
    lines += [f"ignored:       {name}  (an output the {info.format} decoder does not read)" for name in info.ignored]
    print("\n".join(lines))
    return 0


def strip_model(args: argparse.Namespace) -> int:
    """``models strip IN OUT``: what edgepose does in memory on load, written to a file."""
    from edgepose.inference.surgery import strip_posenet_decoder

    source, target = Path(args.input), Path(args.output)
    if source.resolve() == target.resolve():
        raise InputError(f"{target} is the input file", "write the stripped model to another path")
    try:
        content = source.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from None
    stripped = strip_posenet_decoder(content, source)
    try:
        target.write_bytes(stripped.content)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror}") from None
    options = ", ".join(f"{k}={v:g}" for k, v in sorted(stripped.options.items()))
    print(f"{target}: outputs {', '.join(stripped.output_names)}; decoder options {options}")
    return 0
