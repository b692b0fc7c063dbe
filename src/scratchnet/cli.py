"""The ``scratchnet`` command. It only parses and prints: every action is a library call."""
from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import NoReturn

import numpy as np

from . import __version__, datasets, layers, losses, optimizers, presets
from .extras import MissingExtra
from .validation import check_number

EXAMPLES = """examples:
  scratchnet train                          # moons, default settings, into runs/<timestamp>
  scratchnet train --preset seed --trials 100 --json
  scratchnet train --hidden 128 64 --lr 0.05 --epochs 20 --out runs/deep
  scratchnet train --data iris --epochs 50
  scratchnet train --data data.csv --target label --checkpoint-every 5 --out runs/mine
  scratchnet train --resume runs/mine       # continue an interrupted run (Ctrl-C saves one)
  scratchnet train --config run.toml --lr 0.05   # flags override the TOML file
  scratchnet evaluate --model runs/mine/model.npz --data test.csv
  scratchnet predict --model runs/mine/model.npz --data new.csv --proba --output preds.csv
  scratchnet train --data big.parquet --target label --stream --out runs/big   # chunks from disk
  scratchnet train --data big.parquet --target label --scheduler tcp://HOST:8786  # on a Dask cluster
  scratchnet summary --model runs/mine/model.npz
  scratchnet export --model runs/mine/model.npz --onnx model.onnx   # or --safetensors m.safetensors
  scratchnet plot runs/mine
  scratchnet reproduce                      # the tutorial's experiments -> report.md
  scratchnet playground                     # watch a network learn in the browser
"""


class UsageError(Exception):
    """A command line that cannot be parsed (exit code 2, one line on stderr)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: error: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scratchnet", description="Neural networks from scratch on NumPy.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = _command(sub, "train", "train a model, report test accuracy, save a run folder", cmd_train)
    train.add_argument("--preset", choices=sorted(presets.PRESETS), default="default",
                       help="base settings (default: %(default)s); 'seed' is the tutorial's")
    train.add_argument("--hidden", type=int, nargs="+", metavar="N", help="hidden layer sizes")
    train.add_argument("--activation", nargs="+", metavar="NAME",
                       help="hidden activation, one for all or one per layer: "
                            + ", ".join(sorted(layers.ACTIVATIONS)))
    train.add_argument("--optimizer", help="optimizer: " + ", ".join(sorted(optimizers.OPTIMIZERS)))
    train.add_argument("--optimizer-option", nargs="+", metavar="NAME=VALUE", dest="optimizer_option",
                       help="optimizer hyper-parameters, e.g. momentum=0.9 beta2=0.99")
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--init", help="weight init: he, glorot or normal")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--dtype", choices=["float64", "float32"])
    train.add_argument("--loss", choices=sorted(losses.LOSSES),
                       help="mse trains a regressor on a numeric target")
    train.add_argument("--reduction", choices=["mean", "sum"], help="average or sum batch gradients")
    train.add_argument("--label-smoothing", type=float, dest="label_smoothing")
    train.add_argument("--weight-decay", type=float, dest="weight_decay", help="L2 penalty")
    train.add_argument("--clipnorm", type=float, help="clip the gradient's global norm")
    train.add_argument("--dropout", type=float, metavar="RATE", help="dropout after each hidden layer")
    train.add_argument("--batchnorm", action="store_true", default=None, help="BatchNorm1d per hidden layer")
    train.add_argument("--scale", action="store_true", default=None,
                       help="standardise features, with the scaler saved in the model "
                            "(default: on, except for moons, the tutorial's raw data)")
    train.add_argument("--no-scale", action="store_false", dest="scale", default=None,
                       help="feed the features as they are")
    train.add_argument("--validation-split", type=float, dest="validation_split", metavar="FRACTION",
                       help="validate on this fraction of the training rows (default: the test split)")
    train.add_argument("--early-stopping", type=int, dest="early_stopping", metavar="PATIENCE",
                       help="stop when the validation loss has not improved for PATIENCE epochs")
    train.add_argument("--seed", type=int, default=None, help="seed for init and shuffling")
    train.add_argument("--trials", type=int, default=1,
                       help="independently seeded runs (default 1); with N > 1 only statistics "
                            "are reported (and written to --out/metrics.json if given)")
    train.add_argument("--data", metavar="NAME|PATH",
                       help=f"{'|'.join(datasets.BUILTIN)} or a .csv or .parquet file (default: moons)")
    train.add_argument("--target", metavar="COLUMN", help="the CSV or Parquet column to predict")
    train.add_argument("--test-size", type=float, dest="test_size",
                       help="fraction held out for testing (default 0.25; moons: the tutorial's split; "
                            "with --stream: rows held out by a hash of their index)")
    train.add_argument("--test-data", metavar="PATH", dest="test_data",
                       help="a .csv or .parquet file of test rows, instead of holding out --test-size")
    train.add_argument("--stream", action="store_true", default=None,
                       help="read --data in chunks every epoch (memory stays bounded whatever its size)")
    train.add_argument("--chunk-rows", type=int, dest="chunk_rows", metavar="N",
                       help="with --stream: rows read at a time (default 65536)")
    train.add_argument("--shuffle-buffer", type=int, dest="shuffle_buffer", metavar="N",
                       help="with --stream: rows shuffled together (default 65536; not a full shuffle)")
    train.add_argument("--scheduler", metavar="ADDRESS",
                       help="a Dask scheduler (tcp://HOST:8786): streamed training, each chunk trained "
                            "by the worker that reads it (implies --stream; --data readable by every worker)")
    train.add_argument("--out", metavar="DIR", help="run folder (default: a fresh runs/<timestamp>)")
    train.add_argument("--checkpoint-every", type=int, default=0, dest="checkpoint_every",
                       metavar="N", help="save DIR/checkpoint.npz every N epochs")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue RUN_DIR from its checkpoint (--epochs may raise the total)")
    train.add_argument("--no-plots", action="store_true", dest="no_plots", help="skip the plots")
    _add_output_flags(train)

    evaluate = _command(sub, "evaluate", "accuracy, loss and confusion matrix of a saved model",
                        cmd_evaluate)
    evaluate.add_argument("--model", metavar="PATH", help="a model file (.npz or .safetensors)")
    evaluate.add_argument("--data", metavar="NAME|PATH",
                          help="a built-in dataset (its test split) or a .csv or .parquet file with the "
                               "target column, read in chunks (default: the model's own test split)")
    evaluate.add_argument("--target", metavar="COLUMN", help="CSV target column (default: the training one)")
    evaluate.add_argument("--chunk-rows", type=int, dest="chunk_rows", metavar="N",
                          help="rows read at a time (default 65536)")
    _add_output_flags(evaluate)

    predict = _command(sub, "predict", "predict the rows of a CSV file with a saved model", cmd_predict)
    predict.add_argument("--model", metavar="PATH", help="a model file (.npz or .safetensors)")
    predict.add_argument("--data", metavar="PATH", help="a .csv or .parquet file of rows to predict "
                         "(the feature columns by name), read in chunks")
    predict.add_argument("--proba", action="store_true", help="add one probability column per class")
    predict.add_argument("--output", metavar="PATH", help="write here (CSV, or Parquet by its suffix) "
                         "instead of stdout; replaced only when every row is predicted")
    predict.add_argument("--chunk-rows", type=int, dest="chunk_rows", metavar="N",
                         help="rows read at a time (default 65536)")
    _add_output_flags(predict)

    summary = _command(sub, "summary", "architecture, parameter counts and training config", cmd_summary)
    summary.add_argument("--model", metavar="PATH", help="a model file (.npz or .safetensors)")
    _add_output_flags(summary)

    export = _command(sub, "export", "write a saved model as ONNX or safetensors", cmd_export,
                      epilog=EXPORT_EXAMPLES)
    export.add_argument("--model", metavar="PATH", help="a model file (.npz or .safetensors)")
    export.add_argument("--onnx", metavar="OUT.onnx", help="the inference graph, for onnxruntime")
    export.add_argument("--safetensors", metavar="OUT.safetensors", help="the weights, for PyTorch")
    _add_output_flags(export)

    reproduce = _command(sub, "reproduce", "the tutorial's experiments on moons, into report.md",
                         cmd_reproduce)
    reproduce.add_argument("--out", metavar="DIR", help="report folder (default: a fresh runs/<timestamp>)")
    reproduce.add_argument("--quick", action="store_true", help="fewer trials and epochs (seconds)")
    reproduce.add_argument("--seed", type=int, default=0, help="root seed of all runs (default 0)")
    _add_output_flags(reproduce)

    plot = _command(sub, "plot", "redraw the plots of a saved run", cmd_plot)
    plot.add_argument("run_dir", metavar="RUN_DIR")
    _add_output_flags(plot)

    sweep = _command(sub, "sweep", "train many models over a grid or random search (moons)",
                     cmd_sweep, epilog=SWEEP_EXAMPLES)
    sweep.add_argument("--preset", choices=sorted(presets.MLP_PRESETS), default="default",
                       help="base settings (default: %(default)s); 'seed' is the tutorial's")
    for flag, help_text in [
            ("--hidden", "hidden sizes: 3:40 is 3..39 (3:40:2 steps by 2), 64,32 is two layers"),
            ("--depth", "hidden layers, each of the --hidden width"),
            ("--lr", "learning rates; with --random, LOW:HIGH is log-uniform"),
            ("--weight-decay", "weight decays; with --random, LOW:HIGH is log-uniform"),
            ("--batch-size", "batch sizes (ranges as --hidden)"), ("--epochs", "epochs (ranges as --hidden)"),
            ("--activation", "activations"), ("--optimizer", "optimizers"),
            ("--init", "weight inits"), ("--reduction", "mean or sum"), ("--dtype", "float64 or float32"),
            ("--dropout", "dropout rates after each hidden activation"),
            ("--batchnorm", "batch norm after each hidden Dense layer: on, off"),
            ("--loss", "losses: softmax_cross_entropy, binary_cross_entropy"),
            ("--clipnorm", "gradient clipping by global norm"),
            ("--label-smoothing", "label smoothing of softmax cross-entropy")]:
        sweep.add_argument(flag, nargs="+", metavar="V", help=help_text)
    sweep.add_argument("--trials", type=int, default=1, help="seeded models per point (default 1)")
    sweep.add_argument("--random", type=int, metavar="N", help="random search: N points drawn from the axes")
    sweep.add_argument("--seed", type=int, help="root seed of the sweep (default: drawn, then saved)")
    sweep.add_argument("--out", metavar="DIR", default="runs/sweep",
                       help="results.csv, results.json and the plot (default: %(default)s)")
    sweep.add_argument("--resume", action="store_true", help="keep the finished groups in --out")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://HOST:8786")
    sweep.add_argument("--threads", type=int, help="shards per group trained at once, in forked worker processes (default: the usable cores)")
    sweep.add_argument("--group-size", type=int, default=None, dest="group_size",
                       help="most models trained together in one group (default 128)")
    sweep.add_argument("--top", type=int, default=5, help="best points to print (default 5)")
    sweep.add_argument("--no-plot", action="store_true", dest="no_plot", help="skip the figure")
    _add_output_flags(sweep)

    playground = _command(sub, "playground", "watch a network learn, live, in the browser",
                          cmd_playground)
    playground.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    playground.add_argument("--host", help="listen on this address instead of 127.0.0.1 "
                                           "(anyone who reaches it can use the page)")
    playground.add_argument("--no-browser", action="store_true", dest="no_browser",
                            help="print the URL without opening a browser")
    return parser


def _command(sub, name, help, run, epilog=EXAMPLES):
    """A subcommand whose ``--help`` ends with the examples, run by ``run(args)``."""
    parser = sub.add_parser(name, help=help, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(run=run)
    return parser


def _add_output_flags(p):
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--config", metavar="FILE.toml",
                   help="settings from a TOML file (top level or a [command] table); flags override it")


def settings_from_args(args) -> dict:
    """The preset, overridden by whatever was given on the command line."""
    settings = presets.get(args.preset)
    for key in ("optimizer", "lr", "init", "epochs", "batch_size", "dtype", "loss", "reduction",
                "label_smoothing", "weight_decay", "clipnorm", "dropout", "batchnorm", "scale",
                "validation_split", "early_stopping"):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    if args.hidden is not None:
        settings["hidden"] = tuple(args.hidden)
    if args.activation is not None:
        settings["activation"] = args.activation[0] if len(args.activation) == 1 else args.activation
    if getattr(args, "optimizer_option", None):
        settings["optimizer_options"] = dict(_option(text) for text in args.optimizer_option)
    return settings


def _option(text: str):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--optimizer-option takes NAME=VALUE, got {text!r}")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"--optimizer-option {name} must be a number or true/false, got {value!r}") from None


def show_progress(args) -> bool:
    return not args.quiet and not args.json and sys.stderr.isatty()


def _count(name, value, minimum):
    check_number(name, value, integer=True, low=minimum, say_kind=True)


def data_spec(source: str, target: str | None = None, test_size: float = 0.25,
              split_seed: int = 42, test_data: str | None = None) -> dict:
    """The run's data (``runs.load_data`` reads it) from --data, --target, --test-size and
    --test-data: a built-in name or a CSV/Parquet path with its target column (and
    optionally a second file of test rows instead of a split)."""
    from . import runs
    if source not in datasets.BUILTIN and not runs.is_data_file(source):
        raise ValueError(f"--data must be one of {', '.join(datasets.BUILTIN)} or a .csv or .parquet "
                         f"file, got {source!r}")
    if runs.is_data_file(source):
        if not target:
            raise ValueError(f"--data {source} needs --target COLUMN, the column to predict")
        source = str(Path(source).resolve())
    elif target:
        raise ValueError(f"--target applies to a CSV file or a Parquet file; {source} has its own labels")
    check_number("--test-size", test_size, low=0, low_open=True, high=1)
    spec = {"source": source, "target": target, "test_size": test_size, "split_seed": split_seed}
    if test_data is not None:
        if not runs.is_data_file(source) or not runs.is_data_file(test_data):
            raise ValueError(f"--test-data takes a .csv or .parquet file of test rows, with --data "
                             f"a file too; got --data {source} --test-data {test_data}")
        spec["test_data"] = str(Path(test_data).resolve())
    return spec


def cmd_train(args) -> dict:
    from . import runs
    _count("--trials", args.trials, 1)
    _count("--checkpoint-every", args.checkpoint_every, 0)
    if args.seed is not None:
        _count("--seed", args.seed, 0)
    if args.validation_split is not None and not 0 < args.validation_split < 1:
        raise ValueError(f"--validation-split must be a fraction in (0, 1), got {args.validation_split}")
    progress, plots = show_progress(args), not args.no_plots
    if args.resume:
        if Path(args.resume).suffix == ".safetensors":
            raise ValueError(f"--resume cannot continue from {args.resume}: a .safetensors file holds "
                             f"the weights only (no optimizer state, random streams or checkpoint); "
                             f"resume a run folder (its checkpoint.npz or model.npz)")
        fixed = [f"--{k.replace('_', '-')}" for k in RESUME_FIXED if getattr(args, k) is not None]
        fixed += ["--trials"] * (args.trials != 1) + ["--checkpoint-every"] * bool(args.checkpoint_every)
        if fixed:
            raise ValueError(f"--resume continues the run with its own settings; drop {', '.join(fixed)}")
        with _dask_client(args.scheduler) as client:
            run_dir, metrics = runs.resume_run(args.resume, epochs=args.epochs, progress=progress,
                                               plots=plots, client=client, log=_note)
        return _report_run(args, run_dir, metrics)
    preset = presets.PRESETS[args.preset]
    data = args.data or preset.get("data", "moons")  # a recipe preset implies its dataset
    _check_recipe_flags(args, preset, data)
    settings = settings_from_args(args)
    if args.scale is None and data not in datasets.UNSCALED:  # those come as they are meant
        settings["scale"] = True
    if args.early_stopping is not None and args.validation_split is None:
        # the test split only reports: choosing the epoch on it would bias the score
        raise ValueError("--early-stopping needs --validation-split FRACTION "
                         "(rows held out of the training split to watch)")
    spec = data_spec(data, args.target, 0.25 if args.test_size is None else args.test_size,
                          test_data=args.test_data)
    if args.stream or args.scheduler:
        return _train_stream(args, settings, spec, progress, plots)
    given = [f for f, v in (("--chunk-rows", args.chunk_rows), ("--shuffle-buffer", args.shuffle_buffer)) if v]
    if given:
        raise ValueError(f"{', '.join(given)} apply to streamed training: add --stream")
    if args.trials > 1:
        ignored = [flag for flag, value in (("--checkpoint-every", args.checkpoint_every),
                                            ("--validation-split", args.validation_split),
                                            ("--early-stopping", args.early_stopping)) if value]
        if ignored:
            raise ValueError(f"{', '.join(ignored)} apply to a single run, not to --trials {args.trials}")
        return _train_trials(args, settings, spec, progress)
    config = runs.train_config(settings, spec, args.seed, args.preset, args.checkpoint_every)
    run_dir, metrics = runs.train_run(config, args.out, progress=progress, plots=plots)
    return _report_run(args, run_dir, metrics)


def _check_recipe_flags(args, preset: dict, data: str) -> None:
    """Refuse flags that the chosen preset or dataset cannot honour, naming them."""
    if data == "mnist1d" and args.test_size is not None:
        raise ValueError("--data mnist1d has its standard split (4,000 training rows, 1,000 test "
                         "rows): drop --test-size")
    if "layers" in preset:  # the network is the preset's layer list
        given = [f"--{key.replace('_', '-')}" for key in ("hidden", "activation", "init", "dropout",
                                                          "batchnorm") if getattr(args, key) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} do not apply to --preset {args.preset}, "
                             f"a network built from a layer list")
    recipe = [key for key in ("layers", "schedule", "augment") if key in preset]
    if recipe and (args.trials != 1 or args.stream or args.scheduler):
        mode = "--trials" if args.trials != 1 else "--stream"
        raise ValueError(f"{mode} trains MLP settings without a layer list, schedule or augmentation; "
                         f"--preset {args.preset} has {', '.join(recipe)}: run it once per --seed")


RESUME_FIXED = ("data", "test_size", "test_data", "stream", "chunk_rows", "shuffle_buffer", "hidden", "activation", "optimizer", "optimizer_option", "lr",
                "init", "batch_size", "dtype", "seed", "target", "out", "loss", "reduction", "label_smoothing",
                "weight_decay", "clipnorm", "dropout", "batchnorm", "scale", "validation_split",
                "early_stopping")


def _train_stream(args, settings, spec, progress, plots) -> dict:
    from . import runs, stream

    ignored = [flag for flag, value in (("--trials", args.trials != 1),
                                        ("--validation-split", args.validation_split),
                                        ("--early-stopping", args.early_stopping)) if value]
    if ignored:
        raise ValueError(f"{', '.join(ignored)} do not apply to streamed training (--stream)")
    for flag, value in (("--chunk-rows", args.chunk_rows), ("--shuffle-buffer", args.shuffle_buffer)):
        if value is not None:
            _count(flag, value, 1)
    config = runs.train_config(settings, spec, args.seed, args.preset, args.checkpoint_every)
    config["stream"] = {"chunk_rows": args.chunk_rows or stream.CHUNK_ROWS,
                        "shuffle_buffer": args.shuffle_buffer or stream.SHUFFLE_ROWS}
    with _dask_client(args.scheduler) as client:
        run_dir, metrics = runs.train_stream_run(config, args.out, progress=progress, plots=plots,
                                                 client=client, log=_note)
    return _report_run(args, run_dir, metrics)


@contextlib.contextmanager
def _dask_client(address):
    """A Dask client for ``address``, or None without one."""
    if not address:
        yield None
        return
    from .extras import need

    client = need("distributed", "dask").Client(address, timeout="20s")
    try:
        yield client
    finally:
        client.close()


def _note(line: str) -> None:
    """Something the user should know that is not the result (stderr)."""
    print(f"scratchnet: {line}", file=sys.stderr, flush=True)


def _report_run(args, run_dir, metrics) -> dict:
    test, seconds = metrics["test"], metrics["timings"]["train_seconds"]
    config = metrics["config"]
    accuracy = test.get("accuracy")  # None for a regressor
    out = {"test_accuracy_mean": accuracy, "test_accuracy_std": None if accuracy is None else 0.0,
           "trials": 1, "seconds": seconds, "test_accuracy": accuracy, "test_loss": test["loss"],
           "epochs_trained": metrics["epochs_trained"], "run_dir": str(run_dir),
           "preset": config["preset"], "settings": config["settings"], "seed": config["seed"]}
    if accuracy is None:
        out.update(test_r2=test["r2"], test_mae=test["mae"], test_rmse=test["rmse"])
    if args.json:
        print(json.dumps(out))
    elif accuracy is None:
        print(f"test R^2: {test['r2']:.4f}, RMSE {test['rmse']:.4g}, MAE {test['mae']:.4g}  "
              f"({config['preset']} preset, {seconds:.2f} s)")
    else:
        print(f"test accuracy: {accuracy:.4f}  ({config['preset']} preset, {seconds:.2f} s)")
        print(f"saved to {run_dir}/ (model.npz, history.csv, metrics.json"
              f"{'' if args.no_plots else ', plots'})")
    return out


def _train_trials(args, settings, spec, progress) -> dict:
    from . import runs
    _, out = runs.trials_run(settings, spec, args.trials, args.seed, args.preset, args.out,
                             progress=progress)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"test accuracy over {args.trials} trials: mean {out['test_accuracy_mean']:.5f}, "
              f"std {out['test_accuracy_std']:.5f}  ({args.preset} preset, {out['seconds']:.2f} s)")
    return out


def _require(args, *names):
    for name in names:
        if getattr(args, name) is None:
            raise ValueError(f"--{name} is required (on the command line or in --config)")


def cmd_evaluate(args) -> dict:
    from . import io, runs
    _require(args, "model")
    model = io.load(args.model)
    trained_on = (model.training_config or {}).get("data") or {}
    if args.data is None and trained_on.get("source") is None:
        raise ValueError("--data is required: the model file does not say what it was trained on")
    if args.data not in (None, *datasets.BUILTIN) and not (args.target or trained_on.get("target")):
        raise ValueError("--target COLUMN is required: the model was not trained on a CSV")
    scores, what = runs.evaluate_model(model, args.data, args.target, chunk_rows=_chunk_rows(args))
    out = {"model": str(args.model), "data": what, **scores}
    if args.json:
        print(json.dumps(out))
    elif "r2" in scores:
        print(f"{what}: R^2 {scores['r2']:.4f}, RMSE {scores['rmse']:.4g}, MAE {scores['mae']:.4g}, "
              f"MSE {scores['loss']:.4g} ({scores['n']} rows)")
    else:
        print(f"{what}: accuracy {scores['accuracy']:.4f}, loss {scores['loss']:.4f} ({scores['n']} rows)")
        print("confusion matrix (rows: true, columns: predicted) for labels", scores["labels"])
        for row in scores["confusion_matrix"]:
            print("  " + " ".join(f"{c:6d}" for c in row))
    return out


def cmd_predict(args) -> dict:
    from . import io, runs, stream

    _require(args, "model", "data")
    model = io.load(args.model)
    if args.proba and model.task == "regression":
        raise ValueError("--proba is for classifiers; this model is a regressor")
    if model.task == "regression" and not model._y_1d:
        raise ValueError("predict writes one value per row; this regressor has several targets")
    chunks = datasets.read_table(args.data, None, runs.model_features(model), chunk_rows=_chunk_rows(args))
    classes = model.classes_ if model.task != "regression" else np.array([])
    kept = [] if args.json else None  # --json prints every prediction: kept in memory
    to = None if args.output or args.json else sys.stdout  # CSV rows stream to stdout
    n = stream.write_predictions(model, chunks, args.output, proba=args.proba, out=to, keep=kept)
    out = {"n": n, "classes": classes.tolist()}
    if args.output:
        out["output"] = str(args.output)
    if args.json:
        out["predictions"] = [p for pred, _ in kept for p in pred.tolist()]
        if args.proba:
            out["probabilities"] = [row for _, probs in kept for row in probs.tolist()]
        print(json.dumps(out))
    elif args.output:
        print(f"{n} predictions written to {args.output}")
    return out


def _chunk_rows(args) -> int:
    from .datasets import CHUNK_ROWS

    if args.chunk_rows is not None:
        _count("--chunk-rows", args.chunk_rows, 1)
    return args.chunk_rows or CHUNK_ROWS


def cmd_summary(args) -> dict:
    from . import io

    _require(args, "model")
    header = io.read_header(args.model)
    model = io.load(args.model)
    out = {"model": str(args.model), "class": header["class"], "config": header["config"],
           "layers": header["layers"], "n_features": header["n_features"],
           "n_parameters": int(model.params.size),
           "classes": None if model.task == "regression" else model.classes_.tolist(),
           "epochs_trained": len(model.history.get("loss", [])), "training": header["training"],
           "library_version": header["library_version"], "format_version": header["format_version"]}
    if args.json:
        print(json.dumps(out))
    else:
        print(model.summary())
        print(f"classes: {out['classes']}" if out["classes"] is not None else "a regressor")
        print(f"epochs trained: {out['epochs_trained']}; saved by scratchnet "
              f"{out['library_version']} (format {out['format_version']})")
        if header.get("weights_only"):
            print("weights only (safetensors): predicts, but train --resume cannot continue it")
        if header["training"]:
            print("training config:", json.dumps(header["training"]))
    return out


EXPORT_EXAMPLES = """formats:
  .npz          scratchnet's own model file, what train and save write: the weights, optimizer
                state, random streams and history. The one train --resume continues from.
  .safetensors  the weights alone, in Hugging Face's safe format, named as the keys of
                scratchnet.export.to_torch(model).state_dict(), with the config as metadata.
                evaluate, predict and summary read it; PyTorch loads it with load_state_dict.
  .onnx         the inference graph for onnxruntime or any ONNX runtime (opset 20): input X
                float32 [N, F]; outputs probabilities and label, or predictions. Write-only.

examples:
  scratchnet export --model runs/mine/model.npz --onnx model.onnx
  scratchnet export --model runs/mine/model.npz --safetensors model.safetensors
  scratchnet predict --model model.safetensors --data new.csv
"""


def cmd_export(args) -> dict:
    from . import io, export

    _require(args, "model")
    if args.onnx is None and args.safetensors is None:
        raise ValueError("give --onnx OUT.onnx and/or --safetensors OUT.safetensors")
    if args.safetensors is not None and not io.is_safetensors(args.safetensors):
        raise ValueError(f"--safetensors needs a path ending in .safetensors, got {args.safetensors}")
    model = io.load(args.model)
    out = {"model": str(args.model)}
    if args.onnx is not None:
        export.to_onnx(model, args.onnx)
        out["onnx"] = str(args.onnx)
    if args.safetensors is not None:
        io.save(model, args.safetensors, training=model.training_config)
        out["safetensors"] = str(args.safetensors)
    if args.json:
        print(json.dumps(out))
    else:
        for kind in ("onnx", "safetensors"):
            if kind in out:
                print(f"wrote {out[kind]} ({kind})")
    return out


def cmd_reproduce(args) -> dict:
    from . import runs, reproduce

    with runs.removed_on_error(runs.make_run_dir(args.out)) as out_dir, runs.interrupt_on_signals():
        result = reproduce.run(out_dir, quick=args.quick, seed=args.seed, progress=show_progress(args))
    if args.json:
        print(json.dumps(result))
    else:
        print(Path(result["report"]).read_text())
        print(f"written to {out_dir}/ (report.md and plots) in {result['seconds']:.1f} s")
    return result


def cmd_plot(args) -> dict:
    from . import runs
    written = runs.replot(args.run_dir)
    out = {"run_dir": args.run_dir, "files": [str(p) for p in written]}
    if args.json:
        print(json.dumps(out))
    else:
        print("\n".join(out["files"]))
    return out


def cmd_playground(args) -> dict:
    from .extras import need

    need("starlette", "playground")
    need("uvicorn", "playground")
    from .playground.server import serve

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    host = args.host or "127.0.0.1"
    if args.host and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"scratchnet playground: warning: listening on {host}: anyone who can reach this "
              f"address can use the playground and the server's CPU", file=sys.stderr)
    url = serve(host, args.port, open_browser=not args.no_browser,
                on_url=lambda u: print(f"scratchnet playground at {u}  (Ctrl-C stops it)", flush=True))
    return {"url": url}


SWEEP_EXAMPLES = """examples:
  scratchnet sweep --hidden 3:40 --trials 3 --epochs 100 --batch-size 10 --preset seed --out runs/sweep
  scratchnet sweep --hidden 8 16 32 --depth 1 2 --lr 0.05 0.1 0.2 --trials 5 --out runs/grid
  scratchnet sweep --random 30 --lr 1e-4:1e-1 --hidden 8:129 --trials 3 --seed 0 --out runs/random
  scratchnet sweep --hidden 3:40 --trials 3 --out runs/sweep --resume   # skip finished groups
  scratchnet sweep --hidden 3:40 --trials 3 --scheduler tcp://HOST:8786 # on a Dask cluster
"""


def cmd_sweep(args) -> dict:
    from . import plots
    from . import sweep as sw

    _count("--trials", args.trials, 1)
    random = args.random is not None
    axes = {name: sw.parse_axis(name, getattr(args, name), random)
            for name in sw.AXES if getattr(args, name, None) is not None}
    seed = args.seed
    if seed is None and args.resume and (Path(args.out) / "results.json").exists():
        seed = sw.load_results(args.out).config["seed"]  # the same random points again
    if seed is None:
        seed = sw.fresh_seed()
    points = sw.random_search(args.random, seed=seed, **axes) if random else sw.grid(**axes)
    # the figure's painter first: its child is forked before a Dask client's threads exist
    with contextlib.ExitStack() as stack:
        painter = None if args.no_plot else stack.enter_context(plots.Painter())
        result = _run_sweep(args, points, seed)
        figures = [] if painter is None else sw.plot(result, Path(args.out) / "sweep.png",
                                                     painter=painter)
    best = result.best(args.top)
    varying = sw.varying_axes(result)
    out = {"out": args.out, "models": len(result.rows), "seed": seed,
           "seconds": result.seconds, "skipped_groups": result.skipped_groups,
           "files": [str(p) for p in result.files + figures], "best": best,
           "points": result.summary()}
    if args.json:
        print(json.dumps(out))
        return out
    print(f"{len(result.rows)} models ({result.skipped_groups} groups kept from before) "
          f"in {result.seconds:.2f} s, seed {seed}")
    print(f"best {len(best)} points by mean test accuracy:")
    for s in best:
        where = "  ".join(f"{k}={sw.format_value(s[k])}" for k in varying) or "(one point)"
        print(f"  {where}  {s['mean']:.4f} ± {s['std']:.4f}  (n={s['trials']})")
    print("wrote " + ", ".join(out["files"]))
    return out


def _run_sweep(args, points, seed):
    """The sweep of ``scratchnet sweep`` (on a Dask cluster with ``--scheduler``)."""
    from . import runs
    from . import sweep as sw

    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler, timeout="20s")
    try:
        X_train, X_test, y_train, y_test = datasets.tutorial_moons()
        with runs.interrupt_on_signals():
            return sw.sweep(X_train, y_train, X_test, y_test, points, trials=args.trials,
                            seed=seed, preset=args.preset, out=args.out, resume=args.resume,
                            client=client, threads=args.threads, group_size=args.group_size,
                            progress=show_progress(args))
    except runs.Stopped as e:
        raise runs.Stopped(e.signum, f"the finished groups are saved in {args.out}; "
                                     f"run the same command with --resume to continue") from None
    finally:
        if client is not None:
            client.close()


def apply_config(parser, args, argv):
    """Re-parse with the TOML file's settings as defaults: the command line wins.

    Top-level keys serve every command that has them; a ``[command]`` table only
    that command. A key no command (or not that table's command) knows is an error."""
    import tomllib

    path = Path(args.config)
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    dests = {name: {a.dest: a for a in p._actions if a.dest not in ("help", "config", "run")}
             for name, p in sub.choices.items()}
    actions = dests[args.command]
    known_anywhere = set().union(*dests.values())
    defaults = {}
    shared = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [k for k, v in table.items() if isinstance(v, dict)]
    unknown = [k for k in tables if k not in sub.choices]
    if unknown:
        raise ValueError(f"{path}: [{unknown[0]}] is not a command; tables may be "
                         f"{', '.join(f'[{c}]' for c in sub.choices)}")
    own = list(table.get(args.command, {}).items())
    for i, (key, value) in enumerate(shared + own):
        dest = key.replace("-", "_")
        if dest not in actions:
            if i < len(shared) and dest in known_anywhere:
                continue  # a setting for another command
            raise ValueError(f"{path}: unknown setting {key!r} for scratchnet {args.command}; "
                             f"valid: {', '.join(sorted(actions))}")
        defaults[dest] = _config_value(actions[dest], key, value, path)
    sub.choices[args.command].set_defaults(**defaults)
    return parser.parse_args(argv)


def _config_value(action, key, value, path):
    if action.nargs == 0:  # a flag
        if not isinstance(value, bool):
            raise ValueError(f"{path}: {key} must be true or false, got {value!r}")
        return value
    many = action.nargs in ("+", "*")
    items = value if many and isinstance(value, list) else [value]
    if isinstance(value, list) and not many:
        raise ValueError(f"{path}: {key} takes one value, got a list")
    convert = action.type or str
    try:
        items = [convert(str(v)) for v in items]
    except ValueError:
        raise ValueError(f"{path}: {key} has an invalid value {value!r}") from None
    for v in items:
        if action.choices is not None and v not in action.choices:
            raise ValueError(f"{path}: {key} must be one of {', '.join(map(str, action.choices))}, got {v!r}")
    return items if many else items[0]


def main(argv=None) -> int:
    parser = build_parser()
    try:  # --help and --version exit here, before the commands' modules are imported
        args = parser.parse_args(argv)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    from . import runs

    command = f"scratchnet {args.command}"
    try:
        if getattr(args, "config", None):
            args = apply_config(parser, args, argv)
        args.run(args)
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except runs.Interrupted as e:
        if args.json:
            print(json.dumps({"interrupted": True, "signal": e.signum, "epoch": e.epoch,
                              "epochs": e.total, "run_dir": str(e.run_dir)}))
        print(f"{command}: stopped on {e}", file=sys.stderr)
        return 128 + e.signum
    except (ValueError, TypeError, OSError, MissingExtra) as e:
        message = " ".join(str(e).split())  # one line, whatever the exception held
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2
    except runs.Stopped as e:
        print(f"{command}: stopped on {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    return 0


def console() -> NoReturn:
    """The ``scratchnet`` command (and ``python -m scratchnet.cli``): ``main()``, then an
    exit without the interpreter's teardown. The command is done by then: its files
    written and closed, its worker processes and threads joined. What Python would
    still do is free every module and object one at a time: here, from the last exit
    handler to the process's end, 0.1 s after a sweep and 0.06 s after ``--help``. The exit
    handlers (``atexit``: multiprocessing's, Dask's) still run, and the standard streams
    are flushed. Where a thread that is not a daemon still runs, it exits as Python
    does: after that thread."""
    try:
        code = main()
    except SystemExit as e:  # --help, --version
        code = e.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's, what it runs first at exit
    if run_exit_handlers is None or any(not t.daemon for t in threading.enumerate()
                                        if t is not threading.main_thread()):
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (scratchnet ... | head): no one to tell
            pass
    os._exit(code)


if __name__ == "__main__":
    console()
