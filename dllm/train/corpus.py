"""The training corpus: Python source files gathered from directories, deduplicated by content and
split into train / held-out by file, with a manifest (package, bytes, licence).

Default roots are the running interpreter's standard library and site-packages. Evaluation data
(HumanEval, anything under a `shared/data` folder) is never admitted.
"""

from __future__ import annotations

import dataclasses
import email.parser
import hashlib
import json
import random
import re
import site
import sysconfig
from collections import defaultdict
from pathlib import Path

MAX_FILE_BYTES = 256_000
MIN_FILE_BYTES = 200
BANNED_PATH_PARTS = ("humaneval", "human_eval", "human-eval")


@dataclasses.dataclass(frozen=True)
class SourceFile:
    path: str
    package: str
    text: str


def default_roots() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib] + [Path(p) for p in site.getsitepackages() if Path(p).is_dir()]


def _banned(path: Path) -> bool:
    low = str(path).lower()
    if any(part in low for part in BANNED_PATH_PARTS):
        return True
    parts = path.parts
    return any(a == "shared" and b == "data" for a, b in zip(parts, parts[1:]))


def _package_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root).parts
    if "site-packages" in root.parts:
        return rel[0].removesuffix(".py")
    if len(rel) > 1 and rel[0] == "site-packages":
        return rel[1].removesuffix(".py")
    return "stdlib/" + rel[0].removesuffix(".py")


def collect(roots: list[Path] | None = None, suffixes: tuple[str, ...] = (".py",)) -> list[SourceFile]:
    """Every admissible source file under `roots`, first copy of each distinct content only."""
    roots = roots or default_roots()
    seen: set[str] = set()
    files: list[SourceFile] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix not in suffixes or not path.is_file() or _banned(path):
                continue
            if "site-packages" in path.relative_to(root).parts and "site-packages" not in root.parts:
                continue  # the stdlib root also contains site-packages: it has a root of its own
            size = path.stat().st_size
            if not MIN_FILE_BYTES <= size <= MAX_FILE_BYTES:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if "HumanEval" in text:
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            files.append(SourceFile(str(path), _package_of(path, root), text))
    return files


def file_key(path: str) -> str:
    """A file's name independent of the machine: `site-packages/<rest>` or `stdlib/<rest>` (else the path), so a
    held-out split made on one interpreter (say a GPU machine's Python 3.12) holds out the same files on another."""
    if "/site-packages/" in path:
        return "site-packages/" + path.split("/site-packages/", 1)[1]
    m = re.search(r"/python3\.\d+/(.*)$", path)
    return "stdlib/" + m.group(1) if m else path


def split_by_file(files: list[SourceFile], heldout_fraction: float, seed: int,
                  heldout_paths: set[str] | None = None):
    """Random files held out; or the files of `heldout_paths`, matched by `file_key` (to continue a run on the
    split it was evaluated on)."""
    if heldout_paths is not None:
        keys = {file_key(p) for p in heldout_paths}
        held = {i for i, f in enumerate(files) if file_key(f.path) in keys}
    else:
        order = list(range(len(files)))
        random.Random(seed).shuffle(order)
        held = set(order[:max(1, int(len(files) * heldout_fraction))])
    train = [f for i, f in enumerate(files) if i not in held]
    heldout = [f for i, f in enumerate(files) if i in held]
    return train, heldout


def site_licences(roots: list[Path]) -> dict[str, str]:
    """Top-level package name -> licence declared by its distribution's metadata."""
    out: dict[str, str] = {}
    for root in roots:
        for dist in root.glob("*.dist-info"):
            meta_path = dist / "METADATA"
            if not meta_path.is_file():
                continue
            meta = email.parser.Parser().parsestr(meta_path.read_text(errors="replace"), headersonly=True)
            licence = meta.get("License-Expression") or ""
            if not licence:
                classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                               if c.startswith("License ::")]
                licence = ", ".join(classifiers) or (meta.get("License") or "").splitlines()[0:1]
                licence = licence if isinstance(licence, str) else (licence[0] if licence else "")
            tops = set()
            top_file = dist / "top_level.txt"
            if top_file.is_file():
                tops |= {t.strip() for t in top_file.read_text().split() if t.strip()}
            record = dist / "RECORD"
            if record.is_file():
                for line in record.read_text(errors="replace").splitlines():
                    first = line.split(",")[0].split("/")[0]
                    if first and not first.endswith((".dist-info", ".data")) and first != "..":
                        tops.add(first.removesuffix(".py"))
            for top in tops:
                out.setdefault(top, licence[:120] or "unknown")
    return out


def manifest(train: list[SourceFile], heldout: list[SourceFile], roots: list[Path]) -> dict:
    licences = site_licences(roots)
    packages: dict[str, dict] = defaultdict(lambda: {"files": 0, "bytes": 0, "heldout_files": 0, "paths": []})
    for split, files in (("train", train), ("heldout", heldout)):
        for f in files:
            p = packages[f.package]
            p["files"] += 1
            p["bytes"] += len(f.text.encode())
            p["heldout_files"] += split == "heldout"
            p["paths"].append(f.path)
    for name, p in packages.items():
        top = name.split("/")[0]
        p["licence"] = "PSF-2.0" if top == "stdlib" else licences.get(name, "unknown")
    return {
        "roots": [str(r) for r in roots],
        "train": {"files": len(train), "bytes": sum(len(f.text.encode()) for f in train)},
        "heldout": {"files": len(heldout), "bytes": sum(len(f.text.encode()) for f in heldout)},
        "heldout_paths": sorted(f.path for f in heldout),
        "packages": dict(sorted(packages.items())),
    }


def write_manifest(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1))
