"""Command line: `xcptui` (the TUI) and the headless subcommands over the same engine."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from xcptui import __version__
from xcptui.engine import (
    Cancelled,
    EtaSmoother,
    Interrupted,
    Progress,
    ProgressEvent,
    VerifyFailed,
    XcptuiError,
    progress_amount,
    units,
)
from xcptui.engine.layout import PACKAGES
from xcptui.engine.text import printable

EXIT_INTERNAL = 70


# ---------------------------------------------------------------------------
# output helpers


def _size(n: int) -> str:
    return units.size(n)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


class _Escaping(io.TextIOBase):
    """A text stream that shows control characters of what it prints as escapes.

    Everything the CLI prints may carry names from an untrusted ISO; the CLI's own
    structure is lines and tabs, so only those pass through. JSON output is already
    pure ASCII (json.dump escapes), so it passes unchanged.
    """

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, s: str) -> int:
        self.inner.write(printable(s, keep="\n\t"))
        return len(s)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()


class StderrProgress:
    """Prints build progress to stderr: one line per step, a live line on a terminal.

    A staged job (a build) also shows its overall percentage and a smoothed ETA.
    """

    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False) -> None:
        self.stream, self.quiet = stream, quiet
        self.tty = stream.isatty()
        self._live = False
        self._eta = EtaSmoother()

    def _overall(self, ev: ProgressEvent) -> str:
        if ev.fraction is None:
            return ""
        eta = self._eta.update(time.monotonic(), ev.overall_done, ev.overall_total)
        left = f", ETA {_duration(eta)}" if eta is not None else ""
        return f" [{100 * ev.fraction:.0f}% overall{left}]"

    def __call__(self, ev: ProgressEvent) -> None:
        if self.quiet and ev.kind != "warn":
            return
        # step names and messages carry names from the input: shown escaped
        ev = dataclasses.replace(ev, step=printable(ev.step), message=printable(ev.message))
        if ev.kind == "bytes" and self.tty:
            count = progress_amount(ev.done, ev.unit)
            pct = f"{100 * ev.done / ev.total:5.1f}%" if ev.total else count
            rate = f" {_size(int(ev.done / ev.elapsed))}/s" \
                if ev.unit == "B" and ev.elapsed > 0.2 else ""
            self.stream.write(f"\r  {ev.step}: {pct}{rate}{self._overall(ev)}\x1b[K")
            self._live = True
        elif ev.kind == "done":
            self._end_live()
            if ev.fraction == 1.0 and not ev.total:
                return  # the job's end: the command prints its own result line
            if not ev.total and ev.elapsed < 0.5:
                return  # quick bookkeeping steps: the "»" line was enough
            count = progress_amount(ev.total, ev.unit) if ev.total else ""
            extra = f" ({count})" if count else ""
            self.stream.write(f"  done: {ev.step}{extra} in {ev.elapsed:.1f}s\n")
        elif ev.kind == "step":
            self._end_live()
            self.stream.write(f"» {ev.step}\n")
        elif ev.kind == "log":
            self._end_live()
            self.stream.write(f"  {ev.message}\n")
        elif ev.kind == "warn":
            self._end_live()
            self.stream.write(f"  warning: {ev.message}\n")
        self.stream.flush()

    def _end_live(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[K")
            self._live = False


_CANCEL = threading.Event()  # set by the signal handlers (xcptui.signals)


def _cancel_on_sigint() -> threading.Event:
    """The cancel event the signal handlers set (SIGINT, SIGTERM, SIGHUP)."""
    return _CANCEL


def _open_iso(path: str) -> Any:
    from xcptui.engine import IsoSource

    return IsoSource.open(Path(path))


# ---------------------------------------------------------------------------
# subcommands


def cmd_inspect(args: argparse.Namespace) -> int:
    from xcptui.engine import gather_facts

    with _open_iso(args.iso) as src:
        f = gather_facts(src, deep=not args.quick)
        if args.json:
            data = f.to_dict()
            if src.exists(PACKAGES) and not args.quick:
                from xcptui.engine import list_packages

                data["packages"] = [p.to_dict() for p in list_packages(src)]
            json.dump(data, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
            return 0
        for line in facts_lines(f):
            print(line)
    return 0


def facts_lines(f: Any) -> list[str]:
    out = [
        f"ISO          {f.path} ({_size(f.size)})",
        f"volume id    {f.volume_id!r}   names: {f.names}",
    ]
    if f.product:
        out.append(f"product      {f.product}")
    out.append("El Torito")
    for b in f.eltorito:
        bit = ", boot-info-table" if b["boot_info_table"] else ""
        out.append(f"  {b['platform']:<5} {b['path'] or '(no file)'}  load size {b['load_size']}"
                   f" sectors, {b['media']}{bit}")
    h = f.hybrid
    if h.get("mbr_signature"):
        kind = "isohybrid MBR" if h.get("isohybrid") else "MBR (not syslinux isohybrid)"
        out.append(f"USB boot     {kind}")
        for p in h["partitions"]:
            out.append(f"  partition {p['index']}: type 0x{p['type']:02x}"
                       f"{' (EFI)' if p['type'] == 0xEF else ''} start {p['start']}"
                       f" sectors {p['sectors']}{' boot' if p['bootable'] else ''}")
        g = h.get("gpt", {})
        if g.get("present"):
            state = "consistent" if not h.get("problems") else "; ".join(h["problems"])
            out.append(f"  GPT: {len(g.get('partitions', []))} partitions, {state}")
    else:
        out.append("USB boot     no hybrid MBR")
    ii = f.install_img
    if ii:
        if ii.get("error"):
            out.append(f"install.img  {ii['error']}")
        else:
            out.append(f"install.img  {ii['compression']}, {ii['segments']} segment(s), "
                       f"{ii['entries']} entries, {_size(ii['size'])} -> "
                       f"{_size(ii['uncompressed'])}")
            out.append(f"  kernels: {', '.join(ii['kernels']) or 'none'}"
                       + (" (first is main)" if len(ii["kernels"]) > 1 else ""))
    b = f.boot
    if b.get("configs"):
        out.append("boot configs " + ", ".join(b["configs"]))
        first = next(iter(b["configs"].values()))
        tmo = first.get("timeout")
        out.append("  entries: " + ", ".join(
            e["label"] + ("*" if e["label"] == first.get("default") else "")
            for e in first.get("entries", []))
            + (f"  (* default, timeout {tmo:g} s)" if tmo is not None else "  (* default)"))
        for e in first.get("entries", []):
            if e.get("installer"):
                out.append(f"  {e['label']}: {e['kernel']} {e['dom0_args']}")
        if b.get("differences"):
            out.append("  the copies DISAGREE:")
            out += [f"    {d}" for d in b["differences"]]
        else:
            out.append("  all copies agree on every installer entry")
    r = f.repo
    if r.get("packages_dir"):
        out.append(f"repository   {r.get('rpm_count', 0)} RPMs in /Packages; {r['signing']}")
    else:
        out.append(f"repository   {r['signing']}")
    if f.treeinfo:
        out.append(".treeinfo")
        for sec, vals in f.treeinfo.items():
            out.append(f"  [{sec}] " + ", ".join(f"{k}={v}" for k, v in vals.items()))
    for p in f.problems:
        out.append(f"problem: {p}")
    return out


def _split_inner(path: str) -> tuple[str, str | None]:
    """'install.img:/lib/modules' -> ('/install.img', '/lib/modules')."""
    if ":" in path:
        outer, inner = path.split(":", 1)
        outer = "/" + outer.lstrip("/")
        return outer, (inner or "/")
    return path, None


def cmd_ls(args: argparse.Namespace) -> int:
    outer, inner = _split_inner(args.path)
    with _open_iso(args.iso) as src:
        if inner is not None:
            return _ls_image(src, outer, inner, args)
        if outer.rstrip("/") == PACKAGES and src.exists(PACKAGES):
            from xcptui.engine import list_packages

            pk = list_packages(src)
            if args.json:
                json.dump([p.to_dict() for p in pk], sys.stdout, indent=2, default=str)
                sys.stdout.write("\n")
                return 0
            for p in pk:
                print(f"{p.nevra:<70} {_size(p.size):>10}  {p.summary}")
            print(f"{len(pk)} packages")
            return 0
        entries = src.listdir(outer)
        if args.json:
            json.dump([e.__dict__ for e in entries], sys.stdout, indent=2)
            sys.stdout.write("\n")
            return 0
        for e in entries:
            suffix = "/" if e.is_dir else (f" -> {e.link_target}" if e.is_symlink else "")
            print(f"{'' if e.is_dir else _size(e.size):>10}  {e.path}{suffix}")
    return 0


def _ls_image(src: Any, outer: str, inner: str, args: argparse.Namespace) -> int:
    from xcptui.engine import InstallImage

    off, size = src.extent(outer)
    img = InstallImage.open(src.path, off, size, name=outer.lstrip("/"))
    ents = img.listdir(inner)
    if args.json:
        json.dump([e.to_dict() for e in ents], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for e in ents:
        if e.type in ("chardev", "blockdev") and e.rdev:
            sz = f"{e.rdev[0]},{e.rdev[1]}"
        else:
            sz = str(e.size)
        tail = f" -> {e.link_target}" if e.link_target else ""
        mt = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.mtime))
        print(f"{e.mode_string} {e.nlink:>2} {e.uid:>4} {e.gid:>4} {sz:>10} {mt} "
              f"/{e.path}{tail}")
    if img.segments > 1:
        print(f"({outer.lstrip('/')} has {img.segments} concatenated segments; merged view)")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    outer, inner = _split_inner(args.path)
    dest = Path(args.dest)
    with _open_iso(args.iso) as src:
        if inner is not None:
            from xcptui.engine import InstallImage, extract_image

            off, size = src.extent(outer)
            img = InstallImage.open(src.path, off, size, name=outer.lstrip("/"))
            written = extract_image(img, inner, dest)
            skipped = getattr(written, "skipped", [])
            print(f"extracted {len(written)} entries to {dest}")
            for s in skipped:
                print(f"skipped: {s}")
            return 0
        progress = Progress(StderrProgress(quiet=not sys.stderr.isatty()))
        files = src.extract(outer, dest, progress, _cancel_on_sigint())
        print(f"extracted {len(files)} files to {dest}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from xcptui.engine import build_iso, default_output
    from xcptui.engine import recipe as recipe_mod

    source = Path(args.source)
    recipe = recipe_mod.load(Path(args.recipe)) if args.recipe else recipe_mod.Recipe()
    if args.force:
        recipe.packages.force = True
    output = Path(args.output) if args.output else default_output(source)
    cancel = _cancel_on_sigint()
    progress = Progress(StderrProgress(quiet=args.quiet))
    try:
        res = build_iso(source, recipe, output, progress, cancel,
                              verify=not args.no_verify)
    except VerifyFailed as e:
        if e.report is not None:
            for line in e.report.lines():
                print(line)
        raise
    print(f"built {res.output} ({_size(res.size)}) in {res.seconds:.1f}s")
    print("changes:")
    for c in res.changes:
        print(f"  {c}")
    for w in res.warnings:
        print(f"warning: {w}")
    code = 0
    if res.verify is not None:
        for line in res.verify.lines():
            print(line)
        if not res.verify.ok:
            print("xcptui: error: the built ISO failed verification (see above)", file=sys.stderr)
            code = 1
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from xcptui.engine import check_packages
    from xcptui.engine import recipe as recipe_mod

    recipe = recipe_mod.load(Path(args.recipe)) if args.recipe else None
    if recipe is not None and recipe.answerfile is not None and recipe.answerfile.source:
        from xcptui.engine import InputError, validate_answerfile  # non-XML is no "OK"

        try:
            data = recipe.answerfile.source.read_bytes()
        except OSError as e:
            raise InputError(f"{recipe.answerfile.source}: cannot read: {e.strerror}") from None
        validate_answerfile(data, recipe.answerfile.source.name)
    with _open_iso(args.iso) as src:
        rep = check_packages(src, recipe, Progress(), None)
        if args.json:
            json.dump(rep.to_json(), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            for line in rep.lines():
                print(line)
    return 0 if rep.ok else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from xcptui.engine import verify_iso

    progress = Progress(StderrProgress(quiet=args.json or not sys.stderr.isatty()))
    cancel = _cancel_on_sigint()
    rep = verify_iso(Path(args.iso), progress=progress, cancel=cancel, full=args.full)
    ok = rep.ok
    boot_rep = None
    if args.boot:
        from xcptui.engine import smoke_boot

        boot_rep = smoke_boot(Path(args.iso), marker=args.marker,
                                       timeout=args.timeout, progress=progress, cancel=cancel)
        ok = ok and boot_rep.ok
    if args.json:
        data = rep.to_json()
        if boot_rep is not None:
            data["boot"] = boot_rep.to_json()
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for line in rep.lines():
            print(line)
        if boot_rep is not None:
            for line in boot_rep.lines():
                print(line)
    return 0 if ok else 1


def cmd_diff(args: argparse.Namespace) -> int:
    """Like diff(1): 0 identical, 1 different, 2 trouble (one line on stderr)."""
    from xcptui.engine import diff_isos

    progress = Progress(StderrProgress(quiet=args.json or not sys.stderr.isatty()))
    try:
        rep = diff_isos(Path(args.a), Path(args.b), progress, _cancel_on_sigint())
    except Cancelled:
        raise
    except XcptuiError as e:
        print(f"xcptui: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(rep.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for line in rep.lines():
            print(line)
    return 0 if rep.identical else 1


def cmd_driver_disk(args: argparse.Namespace) -> int:
    from xcptui.engine import InputError, make_driver_disk

    out = Path(args.output)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; -o names the driver disk ISO to write")
    for line in make_driver_disk([Path(s) for s in args.sources], out, label=args.label,
                                     version=args.version, description=args.description or "",
                                     cancel=_cancel_on_sigint()):
        print(line)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from xcptui.demoiso.builder import demo_iso_path, ensure_demo_iso

    if not demo_iso_path().exists():
        print(f"generating the demo ISO in {demo_iso_path().parent} (once)...", file=sys.stderr)
    path = ensure_demo_iso()
    if args.path_only:
        print(path)
        return 0
    return _run_tui(str(path), None)


def cmd_serve(args: argparse.Namespace) -> int:
    from xcptui.serve import serve

    return serve(args.host, args.port, args.iso, args.recipe)


def _run_tui(iso: str | None, recipe: str | None) -> int:
    from xcptui import signals
    from xcptui.tui.app import XcptuiApp

    return signals.run_tui(lambda: XcptuiApp(Path(iso) if iso else None,
                                             Path(recipe) if recipe else None))


# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xcptui",
        description="Customise an XCP-ng installation ISO without root. With no subcommand, "
        "opens the TUI wizard (on ISO if given).",
    )
    p.add_argument("--version", action="version", version=f"xcptui {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    s = sub.add_parser("tui", help="open the wizard (the default)")
    s.add_argument("iso", nargs="?")
    s.add_argument("--recipe", help="load this recipe")
    s.set_defaults(func=lambda a: _run_tui(a.iso, a.recipe))

    s = sub.add_parser("demo", help="open the wizard on a generated demo ISO (no download)")
    s.add_argument("--path-only", action="store_true", help="only build it and print its path")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="serve the wizard to a web browser (textual-serve)")
    s.add_argument("iso", nargs="?")
    s.add_argument("--recipe", help="load this recipe")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; no authentication)")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("inspect", help="show an ISO's facts")
    s.add_argument("iso")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quick", action="store_true", help="skip scanning install.img and RPMs")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("ls", help="list a directory of the ISO, of install.img, or Packages/")
    s.add_argument("iso")
    s.add_argument("path", nargs="?", default="/",
                   help="ISO path, or install.img:/inner/path for inside install.img")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ls)

    s = sub.add_parser("extract", help="copy a file or subtree out of the ISO or install.img")
    s.add_argument("iso")
    s.add_argument("path", help="ISO path, or install.img:/inner/path")
    s.add_argument("dest", help="destination directory")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("build", help="apply a recipe and write a new ISO")
    s.add_argument("source")
    s.add_argument("--recipe", "-r", help="recipe TOML (none: a faithful re-master)")
    s.add_argument("--output", "-o", help="output ISO (default: SOURCE-custom.iso)")
    s.add_argument("--force", action="store_true",
                   help="build even if the package dependency check fails")
    s.add_argument("--no-verify", action="store_true", help="skip verifying the output")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("check", help="dependency check of the repository (with a recipe applied)")
    s.add_argument("iso")
    s.add_argument("--recipe", "-r")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("verify", help="check that a built ISO is sound")
    s.add_argument("iso")
    s.add_argument("--json", action="store_true")
    s.add_argument("--boot", action="store_true",
                   help="also smoke-boot it in QEMU: BIOS and UEFI, CD and USB")
    s.add_argument("--marker", help="serial-console text that proves the boot got far enough")
    s.add_argument("--timeout", type=int, default=120, help="seconds per boot mode")
    s.add_argument("--full", action="store_true",
                   help="decode install.img completely with an independent decoder "
                        "(default: incremental, from the index of an earlier decode)")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("diff", help="what differs between two ISOs (exit 0 same, 1 differ)")
    s.add_argument("a", metavar="A.iso")
    s.add_argument("b", metavar="B.iso")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("driver-disk", help="write an XCP-ng driver disk from .ko or .rpm files")
    s.add_argument("sources", nargs="+", metavar="SRC.ko|SRC.rpm")
    s.add_argument("-o", "--output", required=True, metavar="DISK.iso")
    s.add_argument("--label", help="update.xml name-label (default: from the first source)")
    s.add_argument("--version", help="driver disk version (default: 1.0)")
    s.add_argument("--description")
    s.set_defaults(func=cmd_driver_disk)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Writes past `ulimit -f` must fail with EFBIG (cleaned up), not kill the process.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    parser = build_parser()
    commands = {"tui", "demo", "serve", "inspect", "ls", "extract", "build", "check", "verify",
                "diff", "driver-disk"}
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in commands:
        argv.insert(argv.index(first), "tui")  # `xcptui PATH.iso` opens the wizard
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = getattr(args, "func", None) or (
        lambda a: _run_tui(None, None))
    from xcptui import signals

    _CANCEL.clear()
    tui = getattr(args, "cmd", None) in (None, "tui", "demo", "serve")
    old = {} if tui else signals.install_cli(_CANCEL)
    streams = sys.stdout, sys.stderr
    if not tui:
        sys.stdout, sys.stderr = _Escaping(sys.stdout), _Escaping(sys.stderr)
    try:
        return func(args)
    except Interrupted as e:
        from xcptui.engine import remove_live_temp_files

        remove_live_temp_files()
        signals.say(f"xcptui: {e}")
        return e.exit_code
    except Cancelled as e:
        print(f"xcptui: {e}", file=sys.stderr)
        return e.exit_code
    except XcptuiError as e:
        print(f"xcptui: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("xcptui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
        if args.debug:
            raise
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"xcptui: internal error: {type(e).__name__}: {msg} (rerun with --debug)",
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        sys.stdout, sys.stderr = streams
        signals.restore(old)

