"""Recipe TOML: load (every key checked, errors name file, line and key) and save."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from xcptui.engine import limits
from xcptui.engine.errors import InputError, RecipeError
from xcptui.engine.recipe.model import (
    AnswerfileScript,
    AnswerfileSection,
    Driver,
    DriverDisk,
    InstallerFile,
    InstallerRemove,
    InstallerRpm,
    IsoFile,
    IsoRemove,
    Recipe,
    SigningSection,
)

# ---------------------------------------------------------------------------
# parsing

_SCHEMA: dict[str, Any] = {}  # filled below: dotted table path -> dataclass


def _line_of(text: str, key: str) -> int | None:
    """Best-effort line number of ``key`` (last component) in the TOML text."""
    last = key.split(".")[-1].split("[")[0]
    pat = re.compile(rf"^\s*(\[\[?\s*)?[\w.\"]*\b{re.escape(last)}\b")
    for i, line in enumerate(text.splitlines(), 1):
        if pat.match(line):
            return i
    return None


class _Ctx:
    def __init__(self, path: Path | None, text: str, base: Path) -> None:
        self.path, self.text, self.base = path, text, base

    def fail(self, key: str, what: str) -> RecipeError:
        where = f"recipe {self.path}" if self.path else "recipe"
        line = _line_of(self.text, key) if key else None
        if line is not None:
            where += f" line {line}"
        return RecipeError(f"{where}: {key}: {what}" if key else f"{where}: {what}")


def _type_name(t: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", list: "a list"}.get(
        t, str(t)
    )


def _expect(ctx: _Ctx, key: str, value: Any, t: type) -> Any:
    if t is int and isinstance(value, bool):
        raise ctx.fail(key, f"must be {_type_name(int)}, not {value!r}")
    if not isinstance(value, t):
        raise ctx.fail(key, f"must be {_type_name(t)}, not {type(value).__name__} {value!r}")
    return value


def _str_list(ctx: _Ctx, key: str, value: Any) -> list[str]:
    _expect(ctx, key, value, list)
    for i, v in enumerate(value):
        _expect(ctx, f"{key}[{i}]", v, str)
    return list(value)


def _source(ctx: _Ctx, key: str, value: Any) -> Path:
    _expect(ctx, key, value, str)
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = ctx.base / p
    if not p.is_file():
        raise ctx.fail(key, f"{value}: no such file")
    return p


def _mode(ctx: _Ctx, key: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3,4}", value):
        return int(value, 8)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    raise ctx.fail(key, f'must be an octal mode string like "0755", not {value!r}')


def _abs_path(ctx: _Ctx, key: str, value: Any) -> str:
    _expect(ctx, key, value, str)
    if not value.startswith("/"):
        raise ctx.fail(key, f"{value!r} must be an absolute path (start with /)")
    parts = [p for p in value.split("/") if p]
    if any(p == ".." for p in parts):
        raise ctx.fail(key, f"{value!r} must not contain '..'")
    return "/" + "/".join(parts)


def _check_keys(ctx: _Ctx, prefix: str, table: dict[str, Any], allowed: set[str]) -> None:
    for k in table:
        if k not in allowed:
            known = ", ".join(sorted(allowed))
            raise ctx.fail(f"{prefix}{k}", f"unknown key (known here: {known})")


def _table(ctx: _Ctx, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.fail(key, f"must be a table, not {type(value).__name__}")
    return value


def _array_of_tables(ctx: _Ctx, key: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ctx.fail(key, f"must be an array of tables ([[{key}]])")
    return value


def _opt_str(ctx: _Ctx, key: str, t: dict[str, Any], name: str) -> str | None:
    if name not in t:
        return None
    value: str = _expect(ctx, key + name, t[name], str)
    return value


def _kernels(ctx: _Ctx, k: str, t: dict[str, Any]) -> list[str]:
    """``kernels = ["main", "alt"]`` or ``"all"`` (or unames); exclusive with ``kernel``."""
    if "kernels" not in t:
        return []
    v = t["kernels"]
    out = ["all"] if v == "all" else _str_list(ctx, k + "kernels", v) \
        if isinstance(v, list) else None
    if not out or any(not x or any(c.isspace() for c in x) for x in out):
        raise ctx.fail(k + "kernels", 'must be "all" or a non-empty list like '
                       '["main", "alt"] (or kernel versions)')
    if "kernel" in t:
        raise ctx.fail(k + "kernels", "give kernel or kernels, not both")
    return out


def _drivers(ctx: _Ctx, r: Recipe, t: dict[str, Any]) -> None:
    _check_keys(ctx, "drivers.", t, {"disk"})
    for i, d in enumerate(_array_of_tables(ctx, "drivers.disk", t.get("disk", []))):
        k = f"drivers.disk[{i}]."
        _check_keys(ctx, k, d, {"source", "kernels", "force"})
        if "source" not in d:
            raise ctx.fail(k.rstrip("."), "needs a source (a driver disk ISO or an RPM)")
        r.drivers.disk.append(DriverDisk(
            _source(ctx, k + "source", d["source"]), kernels=_kernels(ctx, k, d),
            force=_expect(ctx, k + "force", d.get("force", False), bool)))


def _parse(ctx: _Ctx, doc: dict[str, Any]) -> Recipe:
    r = Recipe(path=ctx.path)
    _check_keys(ctx, "", doc, {"iso", "boot", "installer", "packages", "deps", "signing",
                               "answerfile", "meta", "drivers"})
    if "drivers" in doc:
        _drivers(ctx, r, _table(ctx, "drivers", doc["drivers"]))

    if "meta" in doc:
        _table(ctx, "meta", doc["meta"])  # free-form notes (source ISO, tool version)

    if "iso" in doc:
        t = _table(ctx, "iso", doc["iso"])
        _check_keys(ctx, "iso.", t, {"volume_id", "build_number", "product_version", "files",
                                     "remove"})
        r.iso.volume_id = _opt_str(ctx, "iso.", t, "volume_id")
        r.iso.build_number = _opt_str(ctx, "iso.", t, "build_number")
        r.iso.product_version = _opt_str(ctx, "iso.", t, "product_version")
        for i, f in enumerate(_array_of_tables(ctx, "iso.files", t.get("files", []))):
            k = f"iso.files[{i}]."
            _check_keys(ctx, k, f, {"source", "dest"})
            if "source" not in f or "dest" not in f:
                raise ctx.fail(k.rstrip("."), "needs both source and dest")
            r.iso.files.append(IsoFile(_source(ctx, k + "source", f["source"]),
                                       _abs_path(ctx, k + "dest", f["dest"])))
        for i, f in enumerate(_array_of_tables(ctx, "iso.remove", t.get("remove", []))):
            k = f"iso.remove[{i}]."
            _check_keys(ctx, k, f, {"path"})
            if "path" not in f:
                raise ctx.fail(k.rstrip("."), "needs a path")
            r.iso.remove.append(IsoRemove(_abs_path(ctx, k + "path", f["path"])))

    if "boot" in doc:
        t = _table(ctx, "boot", doc["boot"])
        _check_keys(ctx, "boot.", t, {"append", "remove", "default", "timeout",
                                      "unique_search"})
        r.boot.append = _str_list(ctx, "boot.append", t.get("append", []))
        r.boot.remove = _str_list(ctx, "boot.remove", t.get("remove", []))
        r.boot.default = _opt_str(ctx, "boot.", t, "default")
        if "timeout" in t:
            r.boot.timeout = _expect(ctx, "boot.timeout", t["timeout"], int)
            if r.boot.timeout is not None and not 0 <= r.boot.timeout <= 3600:
                raise ctx.fail("boot.timeout", "must be between 0 and 3600 seconds")
        if "unique_search" in t:
            r.boot.unique_search = _expect(ctx, "boot.unique_search", t["unique_search"], bool)
        for key, params in (("boot.append", r.boot.append), ("boot.remove", r.boot.remove)):
            for i, p in enumerate(params):
                if not p or any(c.isspace() for c in p) or "---" in p:
                    raise ctx.fail(f"{key}[{i}]", f"{p!r} is not one kernel parameter")

    if "installer" in doc:
        t = _table(ctx, "installer", doc["installer"])
        _check_keys(ctx, "installer.", t, {"drivers", "files", "remove", "rpms"})
        inst = r.installer
        for i, d in enumerate(_array_of_tables(ctx, "installer.drivers", t.get("drivers", []))):
            k = f"installer.drivers[{i}]."
            _check_keys(ctx, k, d, {"source", "kernel", "kernels", "dest", "force"})
            if "source" not in d:
                raise ctx.fail(k.rstrip("."), "needs a source")
            inst.drivers.append(Driver(
                _source(ctx, k + "source", d["source"]),
                kernel=_opt_str(ctx, k, d, "kernel"),
                dest=_abs_path(ctx, k + "dest", d["dest"]) if "dest" in d else None,
                force=_expect(ctx, k + "force", d.get("force", False), bool),
                kernels=_kernels(ctx, k, d),
            ))
        for i, f in enumerate(_array_of_tables(ctx, "installer.files", t.get("files", []))):
            k = f"installer.files[{i}]."
            _check_keys(ctx, k, f, {"source", "dest", "mode", "uid", "gid"})
            if "source" not in f or "dest" not in f:
                raise ctx.fail(k.rstrip("."), "needs both source and dest")
            inst.files.append(InstallerFile(
                _source(ctx, k + "source", f["source"]),
                _abs_path(ctx, k + "dest", f["dest"]),
                mode=_mode(ctx, k + "mode", f["mode"]) if "mode" in f else None,
                uid=_expect(ctx, k + "uid", f["uid"], int) if "uid" in f else None,
                gid=_expect(ctx, k + "gid", f["gid"], int) if "gid" in f else None,
            ))
        for i, f in enumerate(_array_of_tables(ctx, "installer.remove", t.get("remove", []))):
            k = f"installer.remove[{i}]."
            _check_keys(ctx, k, f, {"path"})
            if "path" not in f:
                raise ctx.fail(k.rstrip("."), "needs a path")
            path = _abs_path(ctx, k + "path", f["path"])
            if path == "/":
                raise ctx.fail(k + "path", "refusing to remove the whole image")
            inst.remove.append(InstallerRemove(path))
        for i, f in enumerate(_array_of_tables(ctx, "installer.rpms", t.get("rpms", []))):
            k = f"installer.rpms[{i}]."
            _check_keys(ctx, k, f, {"source"})
            if "source" not in f:
                raise ctx.fail(k.rstrip("."), "needs a source")
            inst.rpms.append(InstallerRpm(_source(ctx, k + "source", f["source"])))

    if "packages" in doc:
        t = _table(ctx, "packages", doc["packages"])
        _check_keys(ctx, "packages.", t, {"add", "remove", "downgrade", "auto_require", "force"})
        adds = _str_list(ctx, "packages.add", t.get("add", []))
        r.packages.add = [_source(ctx, f"packages.add[{i}]", a) for i, a in enumerate(adds)]
        r.packages.remove = _str_list(ctx, "packages.remove", t.get("remove", []))
        r.packages.downgrade = _expect(ctx, "packages.downgrade", t.get("downgrade", False), bool)
        r.packages.auto_require = _expect(
            ctx, "packages.auto_require", t.get("auto_require", False), bool)
        r.packages.force = _expect(ctx, "packages.force", t.get("force", False), bool)

    if "deps" in doc:
        t = _table(ctx, "deps", doc["deps"])
        _check_keys(ctx, "deps.", t, {"require", "drop"})
        r.deps.require = _str_list(ctx, "deps.require", t.get("require", []))
        r.deps.drop = _str_list(ctx, "deps.drop", t.get("drop", []))
        for i, req in enumerate(r.deps.require):
            if not re.fullmatch(
                r"[A-Za-z0-9_.+()/:-]+(\s*(<|<=|=|==|>=|>)\s*[A-Za-z0-9_.+:~^-]+)?", req.strip()
            ):
                raise ctx.fail(f"deps.require[{i}]", f"{req!r} is not 'name' or 'name OP version'")

    if "signing" in doc:
        t = _table(ctx, "signing", doc["signing"])
        _check_keys(ctx, "signing.", t, {"mode", "key", "installer_gpgcheck"})
        mode: str = _expect(ctx, "signing.mode", t.get("mode", "unsigned"), str)
        if mode not in ("unsigned", "gpg"):
            raise ctx.fail("signing.mode", f'must be "unsigned" or "gpg", not {mode!r}')
        key_id = _opt_str(ctx, "signing.", t, "key")
        if mode == "gpg" and not key_id:
            raise ctx.fail("signing.key", 'mode = "gpg" needs key = "KEYID"')
        gpgcheck = _opt_str(ctx, "signing.", t, "installer_gpgcheck")
        if gpgcheck not in (None, "keep", "off"):
            raise ctx.fail("signing.installer_gpgcheck",
                           f'must be "keep" or "off", not {gpgcheck!r}')
        r.signing = SigningSection(mode, key_id, gpgcheck)

    if "answerfile" in doc:
        t = _table(ctx, "answerfile", doc["answerfile"])
        _check_keys(ctx, "answerfile.", t, {"source", "dest", "entries", "url",
                                            "answerfile_device", "network_device", "scripts"})
        af = AnswerfileSection()
        if "source" in t:
            af.source = _source(ctx, "answerfile.source", t["source"])
        if "dest" in t:
            af.dest = _abs_path(ctx, "answerfile.dest", t["dest"])
        af.entries = _str_list(ctx, "answerfile.entries", t.get("entries", []))
        af.url = _opt_str(ctx, "answerfile.", t, "url")
        af.answerfile_device = _opt_str(ctx, "answerfile.", t, "answerfile_device")
        af.network_device = _opt_str(ctx, "answerfile.", t, "network_device")
        for i, s in enumerate(_array_of_tables(ctx, "answerfile.scripts", t.get("scripts", []))):
            k = f"answerfile.scripts[{i}]."
            _check_keys(ctx, k, s, {"source", "dest"})
            if "source" not in s or "dest" not in s:
                raise ctx.fail(k.rstrip("."), "needs both source and dest")
            af.scripts.append(AnswerfileScript(_source(ctx, k + "source", s["source"]),
                                               _abs_path(ctx, k + "dest", s["dest"])))
        if (af.source is None) == (af.url is None):
            raise ctx.fail("answerfile", "needs exactly one of source (embed) or url")
        if af.url is not None:
            scheme = af.url.split("://", 1)[0].lower() if "://" in af.url else ""
            if scheme not in ("http", "https", "ftp", "nfs"):
                raise ctx.fail("answerfile.url",
                               f"{af.url!r}: the installer fetches only http, https, ftp or nfs")
        r.answerfile = af
    return r


def loads(text: str, base: Path, path: Path | None = None) -> Recipe:
    """Parse recipe text; relative sources resolve against ``base``."""
    ctx = _Ctx(path, text, base)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ctx.fail("", f"not valid TOML: {e}") from None
    except RecursionError:  # tomllib recurses per nested array / inline table
        raise ctx.fail("", "arrays or tables nested too deep; not a recipe") from None
    return _parse(ctx, doc)


def load(path: Path) -> Recipe:
    """Read and parse a recipe file (a regular file of at most 1 MiB)."""
    try:
        raw = limits.read_small_file(path, "recipe", limits.MAX_RECIPE, f"recipe {path}")
    except InputError as e:
        raise RecipeError(str(e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"recipe {path}: cannot read: {e}") from None
    return loads(text, path.resolve().parent, path)


# ---------------------------------------------------------------------------
# writing (the TUI saves recipes; the CLI replays them)


def _q(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    out = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in out)
    return f'"{out}"'


def _val(v: Any, base: Path | None) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Path):
        return _q(_rel(v, base))
    if isinstance(v, str):
        return _q(v)
    if isinstance(v, list):
        return "[" + ", ".join(_val(x, base) for x in v) + "]"
    raise TypeError(v)


def _rel(p: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return str(p.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(p)


def _emit_table(lines: list[str], header: str, obj: Any, base: Path | None,
                skip: tuple[str, ...] = ()) -> None:
    body = []
    for f in fields(obj):
        if f.name in skip:
            continue
        v = getattr(obj, f.name)
        default = f.default
        if v is None or v == [] or (not isinstance(v, list) and v == default):
            continue
        if f.name == "mode" and isinstance(v, int):
            body.append(f'mode = "{v:04o}"')
            continue
        if isinstance(v, list) and v and not isinstance(v[0], str | Path):
            continue  # arrays of tables are emitted by the caller
        body.append(f"{f.name} = {_val(v, base)}")
    if body or header.startswith("[["):
        lines.append("")
        lines.append(header)
        lines.extend(body)


def dumps(r: Recipe, base: Path | None = None, meta: dict[str, str] | None = None) -> str:
    """Serialise a recipe as TOML; paths become relative to ``base`` when inside it."""
    lines = ["# xcptui recipe: replay with  xcptui build SOURCE.iso --recipe THIS.toml -o OUT.iso"]
    if meta:
        lines += ["", "[meta]"] + [f"{k} = {_q(v)}" for k, v in meta.items()]
    _emit_table(lines, "[iso]", r.iso, base, skip=("files", "remove"))
    for isof in r.iso.files:
        _emit_table(lines, "[[iso.files]]", isof, base)
    for isorm in r.iso.remove:
        _emit_table(lines, "[[iso.remove]]", isorm, base)
    _emit_table(lines, "[boot]", r.boot, base)
    for d in r.installer.drivers:
        _emit_table(lines, "[[installer.drivers]]", d, base)
    for f in r.installer.files:
        _emit_table(lines, "[[installer.files]]", f, base)
    for rm in r.installer.remove:
        _emit_table(lines, "[[installer.remove]]", rm, base)
    for p in r.installer.rpms:
        _emit_table(lines, "[[installer.rpms]]", p, base)
    for disk in r.drivers.disk:
        _emit_table(lines, "[[drivers.disk]]", disk, base)
    _emit_table(lines, "[packages]", r.packages, base)
    _emit_table(lines, "[deps]", r.deps, base)
    if r.signing is not None:
        lines += ["", "[signing]", f"mode = {_q(r.signing.mode)}"]
        if r.signing.key:
            lines.append(f"key = {_q(r.signing.key)}")
        if r.signing.installer_gpgcheck:
            lines.append(f"installer_gpgcheck = {_q(r.signing.installer_gpgcheck)}")
    if r.answerfile is not None:
        af = r.answerfile
        lines += ["", "[answerfile]"]
        if af.source is not None:
            lines.append(f"source = {_val(af.source, base)}")
            lines.append(f"dest = {_q(af.dest)}")
        if af.url is not None:
            lines.append(f"url = {_q(af.url)}")
        if af.entries:
            lines.append(f"entries = {_val(af.entries, base)}")
        for k in ("answerfile_device", "network_device"):
            if getattr(af, k):
                lines.append(f"{k} = {_q(getattr(af, k))}")
        for s in af.scripts:
            _emit_table(lines, "[[answerfile.scripts]]", s, base)
    return "\n".join(lines) + "\n"


def save(r: Recipe, path: Path, meta: dict[str, str] | None = None) -> None:
    """Write the recipe atomically (temp file + rename)."""
    text = dumps(r, path.resolve().parent, meta)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
