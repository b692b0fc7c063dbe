"""The ``scratchnet`` command. It only parses and prints: every action is a library call."""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__, presets
from .data import tutorial_moons
from .sweep import trials

EXAMPLES = """examples:
  scratchnet train                          # moons, default settings
  scratchnet train --preset seed --trials 100 --json
  scratchnet train --hidden 128 64 --lr 0.05 --epochs 20
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchnet", description="Neural networks from scratch on NumPy.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train on the tutorial's moons and report test accuracy",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--preset", choices=sorted(presets.PRESETS), default="default",
                       help="base settings (default: %(default)s); 'seed' is the tutorial's")
    train.add_argument("--hidden", type=int, nargs="+", metavar="N", help="hidden layer sizes")
    train.add_argument("--activation", help="hidden activation (e.g. relu)")
    train.add_argument("--optimizer", help="optimizer name (e.g. sgd)")
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--init", help="weight init: he, glorot or normal")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--dtype", choices=["float64", "float32"])
    train.add_argument("--seed", type=int, default=None, help="seed for init and shuffling")
    train.add_argument("--trials", type=int, default=1, help="independently seeded runs (default 1)")
    _add_output_flags(train)
    train.set_defaults(run=cmd_train)
    return parser


def _add_output_flags(p):
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def settings_from_args(args) -> dict:
    """The preset, overridden by whatever was given on the command line."""
    settings = presets.get(args.preset)
    for key in ("activation", "optimizer", "lr", "init", "epochs", "batch_size", "dtype"):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    if args.hidden is not None:
        settings["hidden"] = tuple(args.hidden)
    return settings


def show_progress(args) -> bool:
    return not args.quiet and not args.json and sys.stderr.isatty()


def cmd_train(args) -> dict:
    settings = settings_from_args(args)
    X_train, X_test, y_train, y_test = tutorial_moons()
    result = trials(X_train, y_train, X_test, y_test, n=args.trials, seed=args.seed,
                    progress=show_progress(args), **settings)
    out = {"test_accuracy_mean": result["mean"], "test_accuracy_std": result["std"],
           "trials": result["trials"], "seconds": result["seconds"], "preset": args.preset,
           "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
           "test_accuracies": result["accuracies"].tolist()}
    if args.json:
        print(json.dumps(out))
    elif args.trials == 1:
        print(f"test accuracy: {result['mean']:.4f}  ({args.preset} preset, {result['seconds']:.2f} s)")
    else:
        print(f"test accuracy over {args.trials} trials: mean {result['mean']:.5f}, "
              f"std {result['std']:.5f}  ({args.preset} preset, {result['seconds']:.2f} s)")
    return out


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, OSError) as e:
        print(f"scratchnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"scratchnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
