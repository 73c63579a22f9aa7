"""``lecun89 predict IMAGE...``: read a person's own digits (or rows of digits) with a trained network."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lecun89.cli.args import add_json, add_model


def digit_lines(path: str, r: dict) -> str:
    """The plain output for one digit: the reading (or "not a digit"), accepted or
    rejected and why, the top two, all outputs."""
    outs = " ".join(f"{i}:{v:+.2f}" for i, v in enumerate(r["outputs"]))
    (a, va), (b, vb) = r["top2"]
    if r.get("digit") is None:
        verdict = f"no digit  REJECTED: {r.get('reason') or 'not a digit'}"
    else:
        verdict = f"{r['digit']}"
        if r["threshold"] is not None:
            verdict += (f"  REJECTED (gap {r['gap']:.3f} < {r['threshold']:.3f})" if r["rejected"]
                        else f"  accepted (gap {r['gap']:.3f} >= {r['threshold']:.3f})")
    return (f"{path}: {verdict}\n  top 2: {a} ({va:+.3f}), {b} ({vb:+.3f}), gap {r['gap']:.3f}\n"
            f"  outputs: {outs}")


def row_lines(path: str, r: dict) -> str:
    """The plain output for a row: the string and the verdict, one line per
    digit, then the chosen cuts and the runner-up."""
    verdict = f"REJECTED ({r.get('reason') or 'a digit is'})" if r["rejected"] else "accepted"
    lines = [f"{path}: {r['digits']}  {verdict}"]
    for k, d in enumerate(r["per_digit"]):
        (a, va), (b, vb) = d["top2"]
        state = "" if d["threshold"] is None else ("  rejected" if d["rejected"] else "  accepted")
        x0, y0, x1, y1 = d["box"]
        lines.append(f"  {k + 1}: {d['digit']}{state} (gap {d['gap']:.3f}; top 2: {a} {va:+.3f}, {b} {vb:+.3f}) "
                     f"box x {x0}-{x1}, y {y0}-{y1}")
    if "cuts" in r:
        cuts = ", ".join(str(c) for c in r["cuts"]) or "none"
        ru = r.get("runner_up")
        other = (f"; runner-up {ru['digits']} (cost {ru['score']:.2f}, cuts at x "
                 f"{', '.join(str(c) for c in ru['cuts']) or 'none'})") if ru else "; no runner-up"
        lines.append(f"  cuts at x {cuts} (path cost {r['score']:.2f}){other}")
    return "\n".join(lines)


def removed_line(found: list[dict]) -> str:
    """The plain output's line for the page furniture removed before reading."""
    kinds: dict[str, int] = {}
    for f in found:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    names = {"ruling": "ruling line", "grid": "squared-paper line", "box": "box line", "margin": "margin line"}
    return "removed: " + ", ".join(f"{n} {names.get(k, k)}{'s' if n > 1 else ''}" for k, n in kinds.items())


def parse_digits(value: str | None, row: bool) -> tuple[int, ...] | None:
    """``--digits N`` or ``--digits N,M`` (a zip code of 5 or 9 digits) -> the
    counts allowed; UserError (status 2) for anything else, or without ``--row``."""
    from lecun89.errors import UserError

    if value is None:
        return None
    if not row:
        raise UserError("--digits needs --row (it is a row's number of digits)", status=2)
    try:
        counts = tuple(sorted({int(v) for v in value.split(",")}))
    except ValueError:
        raise UserError(f"--digits {value}: expected a number of digits, or numbers separated by commas "
                        "(e.g. 5 or 5,9)", status=2) from None
    if min(counts) < 1:
        raise UserError(f"--digits {value}: a row holds at least 1 digit", status=2)
    from lecun89.reader.pieces import MAX_DIGITS

    if max(counts) > MAX_DIGITS:
        raise UserError(f"--digits {value}: a row holds at most {MAX_DIGITS} digits", status=2)
    return counts


def _check_show(show_arg: str, images: list[str]) -> None:
    from lecun89.errors import UserError

    show = Path(show_arg)
    if show.suffix.lower() != ".png":
        raise UserError(f"--show {show_arg}: expected a .png file name", status=2)
    if not show.parent.is_dir():
        raise UserError(f"--show {show_arg}: no folder {show.parent} to write it in", status=2)
    if show.is_dir() or any(show.resolve() == Path(p).resolve() for p in images):
        raise UserError(f"--show {show_arg}: is one of the images to read (or a folder); "
                        "name another file", status=2)


def run(args) -> int:
    from lecun89.reader import read_digit
    from lecun89.errors import UserError
    from lecun89.reader import analyse, analyse_row, load_model, read_row_file, save_preprocessing

    if args.show:
        _check_show(args.show, args.images)
    args.digits = parse_digits(args.digits, args.row)
    model = load_model(args.model)
    failed = 0
    shown = []
    for path in args.images:
        cleaned = []  # the furniture stage's Cleaned (none for a .npy)
        try:
            if args.row:
                digits, gray = read_row_file(path, deslant=args.deslant, cleaned=cleaned)
            else:
                x16, gray = read_digit(path, deslant=args.deslant, cleaned=cleaned)
        except UserError as exc:
            print(f"lecun89: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.row:
            try:
                r = analyse_row(model, digits, n_digits=args.digits)
            except ValueError as exc:
                print(f"lecun89: error: {path}: {exc}", file=sys.stderr)
                failed += 1
                continue
            x16 = [digits.x16[k] for k in r["candidates"]]
        else:
            r = analyse(model, x16, maps=False)
        r["removed"] = cleaned[0].found if cleaned else []
        if args.json:
            print(json.dumps({"file": path, **r}), flush=True)
        else:
            print((row_lines if args.row else digit_lines)(path, r), flush=True)
            if r["removed"]:
                print(f"  {removed_line(r['removed'])}", flush=True)
        shown.append((path, gray, x16, r, cleaned[0].removed if cleaned else None))
    if args.show and shown:
        try:
            save_preprocessing(shown, Path(args.show))
        except OSError as exc:
            raise UserError(f"--show {args.show}: cannot write it: {exc.strerror or exc}") from None
        if not args.json:
            print(f"preprocessing shown in {args.show}")
    if failed:
        print(f"lecun89: {failed} of {len(args.images)} file(s) could not be read", file=sys.stderr)
        return 1
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="read digits from image files with a trained network",
                       description="Read handwritten digits from images (PNG, JPEG, BMP, GIF; any size, "
                                   "dark or light background) or 16x16 .npy arrays in [-1, 1]. Each image is "
                                   "normalised as the paper's digits were (deslanted, bounding box fitted into "
                                   "16x16, aspect kept, gray levels in [-1, 1]) and read by the network.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or 16x16 .npy arrays")
    add_model(p)
    add_json(p, "one JSON object per image")
    p.add_argument("--show", metavar="OUT.png", help="save each original beside its 16x16 input")
    p.add_argument("--row", action="store_true",
                   help="each image is a row of digits (a zip code): the ink over-segmented, every candidate "
                        "digit read by the network and the cheapest path through them chosen; the row is "
                        "rejected when any digit on it is, or the path is weak")
    p.add_argument("--digits", metavar="N[,M]",
                   help="with --row: the row holds N digits (or N or M: --digits 5,9 for a ZIP or ZIP+4 code)")
    p.add_argument("--no-deslant", dest="deslant", action="store_false",
                   help="do not shear the digit upright before fitting it to 16x16 (deslanting is on by "
                        "default, as the USPS digits were prepared; a .npy is always used as is)")
    p.set_defaults(func=run)

