"""Model files: one ``.npz`` per model, arrays plus a JSON header, never pickle.

Layout (all plain arrays, read with ``np.load(allow_pickle=False)``):

* ``header``: the UTF-8 JSON header as uint8 bytes: format name and version,
  library version, model class and constructor config, the built layers'
  configs, loss and optimizer configs, random-generator states, history,
  the training config and whatever extra the caller adds (a checkpoint's epoch);
* ``params``: the model's one flat parameter array;
* ``buffer.<layer>.<name>``: non-trained layer state (running statistics);
* ``optimizer.<name>``: the optimizer's state arrays (Adam's m and v);
* ``<object>.<attribute>``: fitted helper objects (label encoder, scaler): their
  array attributes, with the object's other JSON-able attributes in the header.

Saves are atomic: the file is written to a temporary file in the same folder
and renamed over the target, so a failed save leaves the previous file intact.

A path ending in ``.safetensors`` is written as safetensors instead (the
``scratchnet[safetensors]`` extra): the weights alone, named as the keys of
``scratchnet.export.to_torch(model).state_dict()``, with the JSON header (the same
one, less optimizer state and random streams) in the metadata key ``scratchnet``.
It predicts like the ``.npz`` but cannot continue training exactly.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from . import __version__
from . import layers as L
from .extras import need

FORMAT = "scratchnet-model"
FORMAT_VERSION = 1
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class ModelFileError(ValueError):
    """A file that cannot be read as a scratchnet model."""


def atomic_write(path, write, mode: str = "wb") -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it to ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    if not path.parent.is_dir():  # name the folder, not the temporary file
        error = NotADirectoryError("Not a directory") if path.parent.exists() else \
            FileNotFoundError("No such folder")
        raise type(error)(f"{error}: {path.parent} (writing {path.name})")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would stay with the renamed file
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# -- saving -------------------------------------------------------------------------
def save(model, path, *, training: dict | None = None, extra: dict | None = None) -> Path:
    """Write a fitted model to ``path`` (a ``.npz`` file), atomically.

    ``training``: the training config to keep with the model (data, epochs, ...).
    ``extra``: more JSON-able header entries (e.g. a checkpoint's progress).
    The file holds everything needed to predict and to continue training
    exactly where it stopped (optimizer state and random-generator states).
    A ``.safetensors`` path holds the weights only (see the module docstring)."""
    if not getattr(model, "built", False):
        raise ValueError("cannot save a model that is not fitted: call fit(X, y) first")
    if not np.isfinite(model.params).all():
        raise ValueError("refusing to save a model whose parameters contain NaN or inf "
                         "(training diverged): retrain with a lower learning rate")
    if is_safetensors(path):
        return _save_safetensors(model, Path(path), training, extra)
    arrays = {"params": model.params}
    buffers = []
    for i, layer in enumerate(model.layers):
        for name, value in getattr(layer, "buffers", {}).items():
            if isinstance(name, str):  # named state; scratch space is keyed by shape
                arrays[f"buffer.{i}.{name}"] = np.asarray(value)
                buffers.append([i, name])
    opt_state = {name: np.asarray(v) for name, v in model.optimizer.state().items()}
    arrays.update({f"optimizer.{name}": v for name, v in opt_state.items()})
    objects = {}
    for attr, obj in vars(model).items():
        if _is_helper_object(obj):
            objects[attr], obj_arrays = _describe_object(obj, attr)
            arrays.update(obj_arrays)
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
        "class": type(model).__name__, "config": model.get_config(),
        "layers": [layer.config() for layer in model.layers],
        "n_features": int(model.n_features_), "input_shape": list(model.input_shape_),
        "dtype": model.params.dtype.name,
        "loss": model.loss.config(), "optimizer": model.optimizer.config(),
        "optimizer_state": sorted(opt_state), "buffers": buffers, "objects": objects,
        "rng_states": _rng_states(model), "history": _jsonable_history(model.history),
        "attributes": {"model": _scalars(model), "optimizer": _scalars(model.optimizer)},
        "training": training, **(extra or {}),
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def _scalars(obj) -> dict:
    """An object's plain attributes (fitted sizes, task, a scheduled lr), JSON-able."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in vars(obj).items()
            if v is None or isinstance(v, (bool, int, float, str, np.bool_, np.integer, np.floating))}


def _is_helper_object(obj) -> bool:
    """Fitted preprocessing objects from this package (label encoder, scaler)."""
    module = type(obj).__module__
    return (module.startswith("scratchnet.") and hasattr(obj, "__dict__")
            and not isinstance(obj, (L.Layer, np.random.Generator))
            and module not in ("scratchnet.optimizers", "scratchnet.losses", "scratchnet.layers"))


def _describe_object(obj, attr):
    values, arrays = {}, {}
    for name, value in vars(obj).items():
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                value = _object_labels(value, f"{attr}.{name}")
            arrays[f"{attr}.{name}"] = value
        else:
            try:
                values[name] = json.loads(json.dumps(value))
            except (TypeError, ValueError):
                raise TypeError(f"cannot save {attr}.{name}={value!r}: not an array or JSON value") from None
    info = {"module": type(obj).__module__, "type": type(obj).__name__,
            "values": values, "arrays": sorted(k.split(".", 1)[1] for k in arrays)}
    return info, arrays


def _object_labels(values: np.ndarray, name: str) -> np.ndarray:
    """Object arrays (labels from pandas) can be saved when they are all strings."""
    if all(isinstance(v, str) for v in values.ravel()):
        return values.astype(str)
    raise TypeError(f"cannot save {name}: labels of mixed Python types; use str, int or float labels")


def _rng_states(model) -> dict:
    """bit_generator.state of every random stream the model or its layers hold."""
    states = {}
    owners = [("model", model)] + [(f"layer.{i}", layer) for i, layer in enumerate(model.layers)]
    for prefix, owner in owners:
        for attr, value in vars(owner).items():
            if isinstance(value, np.random.Generator):
                states[f"{prefix}.{attr}"] = value.bit_generator.state
    return states


def _jsonable_history(history: dict) -> dict:
    return {k: [v.item() if isinstance(v, np.generic) else v for v in vals]
            for k, vals in history.items()}


# -- loading ------------------------------------------------------------------------
def read_header(path) -> dict:
    """The JSON header of a model file (validated: format and version)."""
    if is_safetensors(path):
        return _read_safetensors(path)[0]
    with _open(path) as data:
        return _header(data, path)


def load(path):
    """Rebuild the model saved at ``path``: fitted, and ready to continue training
    exactly where it stopped. The header's training config is ``model.training_config``.
    A ``.safetensors`` file gives a fitted model with fresh optimizer state."""
    if is_safetensors(path):
        return _load_safetensors(path)
    with _open(path) as data:
        header = _header(data, path)
        try:
            return _rebuild(header, data)
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile, OSError, EOFError) as e:
            if isinstance(e, ModelFileError):
                raise
            raise ModelFileError(f"{path}: damaged scratchnet model file ({type(e).__name__}: {e})") from None


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path} is not a scratchnet model file")
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ModelFileError(f"{path} is truncated or corrupted: {e}") from None


def _header(data, path) -> dict:
    if "header" not in data.files:
        raise ModelFileError(f"{path} is not a scratchnet model file (no header)")
    try:
        header = json.loads(data["header"].tobytes().decode("utf-8"))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ModelFileError(f"{path} is truncated or corrupted: {e}") from None
    return _check_header(header, path)


def _check_header(header, path) -> dict:
    """The header, if its format is ours and its version one this scratchnet reads."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a scratchnet model file")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version} (written by scratchnet "
            f"{header.get('library_version')}); this scratchnet {__version__} reads up to "
            f"version {FORMAT_VERSION}: upgrade scratchnet to load it")
    return header


def _built_model(header):
    """The header's model class, config and layers, built (weights still the init's)."""
    from . import model as model_module

    cls = getattr(model_module, header["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, model_module.Sequential)):
        raise ModelFileError(f"unknown model class {header['class']!r} in the file")
    model = cls.from_config(header["config"])
    model.layers = [L.from_config(cfg) for cfg in header["layers"]]
    return model.build(header.get("input_shape", header["n_features"]))  # (C, L) for conv layers


def _rebuild(header, data):
    model = _built_model(header)
    params = data["params"]
    if params.shape != model.params.shape or params.dtype != model.params.dtype:
        raise ModelFileError(f"params of shape {params.shape} and dtype {params.dtype} do not "
                             f"fit the architecture ({model.params.shape}, {model.params.dtype})")
    if not np.isfinite(params).all():
        raise ModelFileError("the file's parameters contain NaN or inf: it would only predict garbage")
    model.params[...] = params
    for i, name in header["buffers"]:
        model.layers[i].buffers[name][...] = data[f"buffer.{i}.{name}"]
    model.optimizer.load_state({name: data[f"optimizer.{name}"] for name in header["optimizer_state"]})
    for attr, info in header["objects"].items():
        setattr(model, attr, _rebuild_object(info, attr, data))
    for key, state in header["rng_states"].items():
        _restore_rng(model, key, state)
    for name, value in header["attributes"]["model"].items():
        setattr(model, name, value)
    for name, value in header["attributes"]["optimizer"].items():
        setattr(model.optimizer, name, value)
    model.history = {k: list(v) for k, v in header["history"].items()}
    model.training_config = header.get("training")
    return model


def _rebuild_object(info, attr, data):
    module = info["module"]
    if not module.startswith("scratchnet."):  # only our own classes, never arbitrary code
        raise ModelFileError(f"refusing to rebuild {attr} from module {module!r}")
    try:
        cls = getattr(importlib.import_module(module), info["type"], None)
    except ImportError:
        cls = None
    if not isinstance(cls, type):
        raise ModelFileError(f"refusing to rebuild {attr}: {module}.{info['type']} is not a class")
    obj = cls.__new__(cls)
    obj.__dict__.update(info["values"])
    for name in info["arrays"]:
        setattr(obj, name, data[f"{attr}.{name}"])
    return obj


def _restore_rng(model, key, state):
    owner_name, attr = key.rsplit(".", 1)
    owner = model if owner_name == "model" else model.layers[int(owner_name.split(".")[1])]
    rng = getattr(owner, attr, None)
    if not isinstance(rng, np.random.Generator):
        if state.get("bit_generator") not in BIT_GENERATORS:
            raise ModelFileError(f"unknown random generator {state.get('bit_generator')!r}")
        rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        setattr(owner, attr, rng)
    rng.bit_generator.state = state


# -- safetensors: the weights alone ---------------------------------------------------
SAFETENSORS_SUFFIX = ".safetensors"
SAFETENSORS_DTYPES = {"F32": "float32", "F64": "float64", "I64": "int64"}  # all a model holds
MAX_SAFETENSORS_HEADER = 100 * 2**20  # the safetensors library's own limit


def is_safetensors(path) -> bool:
    """Whether ``save``/``load`` treat ``path`` as safetensors (by its suffix)."""
    return Path(path).suffix == SAFETENSORS_SUFFIX


def _save_safetensors(model, path: Path, training, extra) -> Path:
    from .export import state_dict

    st = need("safetensors.numpy", "safetensors")
    objects = {}
    for attr, obj in vars(model).items():
        if _is_helper_object(obj):  # label encoder, scaler: small, so JSON, not tensors
            info, arrays = _describe_object(obj, attr)
            info["json_arrays"] = {key.split(".", 1)[1]: {"dtype": value.dtype.str, "shape": list(value.shape),
                                                          "values": value.tolist()}
                                   for key, value in arrays.items()}
            objects[attr] = info
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
        "weights_only": True, "class": type(model).__name__, "config": model.get_config(),
        "layers": [layer.config() for layer in model.layers],
        "n_features": int(model.n_features_), "input_shape": list(model.input_shape_),
        "dtype": model.params.dtype.name,
        "loss": model.loss.config(), "objects": objects,
        "history": _jsonable_history(model.history),
        "attributes": {"model": _scalars(model)}, "training": training, **(extra or {}),
    }
    tensors = state_dict(model)
    # safetensors has no checksum of its own (a zip has CRC-32): keep one beside the header
    metadata = {"scratchnet": json.dumps(header), "sha256": _digest(tensors)}
    data = st.save(tensors, metadata=metadata)
    return atomic_write(path, lambda f: f.write(data))


def _digest(tensors: dict) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _read_safetensors(path) -> tuple[dict, bytes, str | None]:
    """The scratchnet header of a safetensors file, the file's bytes and the
    tensors' saved checksum (None if absent), checked:
    the 8-byte header length against the file size, the JSON, our metadata, the dtypes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    data = path.read_bytes()
    if len(data) < 8:
        raise ModelFileError(f"{path} is truncated: {len(data)} bytes, not even the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8 or n > MAX_SAFETENSORS_HEADER:
        raise ModelFileError(f"{path} is truncated or not safetensors: its header length says "
                             f"{n} bytes, the file has {len(data) - 8} after it")
    try:
        meta = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ModelFileError(f"{path} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("__metadata__", {}), dict):
        raise ModelFileError(f"{path} is not a safetensors file (its header is not a JSON object)")
    text = meta.get("__metadata__", {}).get("scratchnet")
    if not isinstance(text, str):
        raise ModelFileError(f"{path} is a safetensors file but not a scratchnet model "
                             f"(no 'scratchnet' metadata)")
    try:
        header = json.loads(text)
    except ValueError:
        raise ModelFileError(f"{path}: its scratchnet metadata is not JSON") from None
    _check_header(header, path)
    for name, info in meta.items():
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if name != "__metadata__" and dtype not in SAFETENSORS_DTYPES:
            raise ModelFileError(f"{path}: tensor {name!r} has dtype {dtype!r}; a scratchnet "
                                 f"model holds only {', '.join(SAFETENSORS_DTYPES)}")
    digest = meta["__metadata__"].get("sha256")
    return header, data, digest if isinstance(digest, str) else None


def _load_safetensors(path):
    from .export import load_state_dict

    header, data, digest = _read_safetensors(path)
    st = need("safetensors.numpy", "safetensors")
    try:
        tensors = st.load(data)
    except Exception as e:  # the library's SafetensorError: offsets, sizes, overlaps
        raise ModelFileError(f"{path} is truncated or corrupted: {' '.join(str(e).split())}") from None
    try:
        model = _built_model(header)
        for attr, info in header["objects"].items():
            arrays = {f"{attr}.{name}": _json_array(spec) for name, spec in info["json_arrays"].items()}
            setattr(model, attr, _rebuild_object(info, attr, arrays))
        try:  # names, shapes, dtypes: the specific errors first
            load_state_dict(model, tensors)
        except ValueError as e:
            raise ModelFileError(f"{path}: its tensors do not fit its config: {e}") from None
        if digest is not None and digest != _digest(tensors):
            raise ModelFileError(f"{path} is corrupted: its tensors do not match the sha256 saved "
                                 f"with them (or they were edited without updating it)")
        for name, value in header["attributes"]["model"].items():
            setattr(model, name, value)
        model.history = {k: list(v) for k, v in header["history"].items()}
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        if isinstance(e, ModelFileError):
            raise e if str(path) in str(e) else ModelFileError(f"{path}: {e}") from None
        raise ModelFileError(f"{path}: damaged scratchnet model file "
                             f"({type(e).__name__}: {' '.join(str(e).split())})") from None
    model.training_config = header.get("training")
    return model


def _json_array(spec) -> np.ndarray:
    """An array kept as JSON: numbers, bools or strings, never objects."""
    dtype = np.dtype(spec["dtype"])
    if dtype.kind not in "biufU":
        raise ValueError(f"an array of dtype {dtype} in the header")
    value = np.array(spec["values"], dtype=dtype)
    if list(value.shape) != spec["shape"]:
        raise ValueError(f"an array of shape {list(value.shape)} where the header says {spec['shape']}")
    return value
