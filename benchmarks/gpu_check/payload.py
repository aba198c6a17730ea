"""What a device call sends: the tracked files, ../shared and the wheels of benchmarks/gpu_wheels.txt.

A call to the device machine sends the working tree (with ../shared) plus the carried files, at most 64 MiB; the
project keeps the sum under LIMIT so that a round's figures still fit. The wheel list records each wheel's size
beside its pin, so the sum is known without downloading them.

    python -m benchmarks.gpu_check.payload            # the sum, part by part
    python -m benchmarks.gpu_check.payload --refresh  # after `make gpu-wheels`: rewrite the sizes from .whl/
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHEELS_TXT = ROOT / "benchmarks" / "gpu_wheels.txt"
SHARED = ROOT.parent / "shared"
LIMIT = 56 * 2**20  # bytes; the device's own limit is 64 MiB a call
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+)\s*(?:#\s*(?P<size>\d+) bytes)?\s*$")


def canonical(name: str) -> str:
    """A distribution's name as wheel files spell it (PEP 503 normalised, '_' for '-')."""
    return re.sub(r"[-_.]+", "_", name).lower()


def pins(path: Path = WHEELS_TXT) -> dict[str, tuple[str, int | None]]:
    """{canonical name: (version, recorded size in bytes or None)} of the wheel list."""
    out = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            out[canonical(m["name"])] = (m["version"], int(m["size"]) if m["size"] else None)
    return out


def wheel_files(folder: Path) -> dict[str, Path]:
    """{canonical name: wheel file} in `folder`; two versions of one package are an error."""
    found: dict[str, Path] = {}
    for whl in sorted(folder.glob("*.whl")):
        name = canonical(whl.name.split("-")[0])
        if name in found:
            raise SystemExit(f"{folder} holds two wheels of {name} ({found[name].name}, {whl.name}); "
                             f"run `make gpu-wheels`, which starts from an empty folder")
        found[name] = whl
    return found


def tracked_bytes(root: Path = ROOT) -> int:
    """Bytes of the files git tracks in `root` (as they are on disk)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.split(b"\0")
    return sum((root / n.decode()).stat().st_size for n in names if n and (root / n.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def parts() -> dict[str, int]:
    """Bytes a device call sends, by part."""
    recorded = pins()
    missing = [n for n, (_, size) in recorded.items() if size is None]
    if missing:
        raise SystemExit(f"{WHEELS_TXT} has no size for {', '.join(missing)}; run `make gpu-wheels`, then "
                         f"`python -m benchmarks.gpu_check.payload --refresh`")
    return {"tracked files": tracked_bytes(), "../shared": folder_bytes(SHARED),
            "wheels (recorded sizes)": sum(size for _, size in recorded.values())}


def refresh(folder: Path) -> None:
    """Rewrite each pin's size from the wheel in `folder`; a pin without its wheel, or a wheel of another
    version, is an error."""
    files, lines = wheel_files(folder), []
    for line in WHEELS_TXT.read_text().splitlines():
        m = PIN.match(line.strip())
        if not m:
            lines.append(line)
            continue
        name = canonical(m["name"])
        whl = files.get(name)
        if whl is None or f"-{m['version']}-" not in whl.name:
            raise SystemExit(f"{folder} has no wheel of {m['name']}=={m['version']}; run `make gpu-wheels`")
        lines.append(f"{m['name']}=={m['version']}  # {whl.stat().st_size} bytes")
    WHEELS_TXT.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--refresh", action="store_true", help="rewrite the recorded sizes from the wheels in --wheels")
    p.add_argument("--wheels", type=Path, default=ROOT / ".whl")
    args = p.parse_args(argv)
    if args.refresh:
        refresh(args.wheels)
    sizes = parts()
    for name, size in sizes.items():
        print(f"{name:26s} {size / 2**20:7.2f} MiB")
    total = sum(sizes.values())
    print(f"{'total':26s} {total / 2**20:7.2f} MiB (limit {LIMIT / 2**20:.0f} MiB)")
    return 0 if total <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
