"""Reading a Keras model file as data: `.keras` zip, full-model `.h5`, or model JSON.

Zip members are checked from their declared sizes (uncompressed size within the cap,
compression ratio ≤ 1,000) before a byte is decompressed; HDF5 is opened with h5py,
which reads datasets lazily.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from typing import Any

from builder.arrayfiles import Refused, vet_zip_member
from builder.errors import DataError, ResourceError
from builder.interop import require_h5py
from builder.sizes import format_bytes

"""Largest accepted compression ratio of a zip member (uncompressed / compressed)."""

MAX_CONFIG_BYTES = 64 * 1024**2
"""Largest accepted model config (JSON text)."""

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass
class KerasFile:
    """A model config (parsed JSON and its text) and, if the file has them, its weights.

    `weights` is an open h5py File (or None for JSON); `layout` is `keras3` for the
    `layers/<path>/vars/N` layout of `.keras` archives, `legacy` for the `model_weights`
    group of full-model `.h5` files. `config_name` names the text in error messages.
    """

    path: str
    config: dict[str, Any]
    config_text: str
    config_name: str
    weights: Any
    layout: str
    keras_version: str

    def close(self) -> None:
        if self.weights is not None:
            self.weights.close()


def read_keras_file(path: str, max_bytes: int) -> KerasFile:
    """Open `path` by its content: zip → `.keras`, HDF5 signature → `.h5`, else JSON."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_ZIP_MAGIC):
        return _read_archive(path, max_bytes)
    if head == _HDF5_MAGIC:
        return _read_h5(path)
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise DataError(f"{path}: a model JSON over {MAX_CONFIG_BYTES:,} bytes is refused")
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    return KerasFile(path, _parse_json(text, path), text, path, None, "none", "")


def _parse_json(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{where}:{error.lineno}:{error.colno}: not a Keras model (zip, HDF5 or JSON): {error.msg}"
        ) from None
    if not isinstance(data, dict) or "class_name" not in data or "config" not in data:
        raise DataError(f"{where}: not a Keras model config (no class_name and config)")
    return data


def _read_archive(path: str, max_bytes: int) -> KerasFile:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            size = os.path.getsize(path)
            for info in members.values():
                _check_member(path, info, max_bytes, size)
            if "config.json" not in members:
                raise DataError(f"{path}: not a Keras archive (no config.json)")
            text = archive.read("config.json").decode("utf-8", errors="replace")
            metadata: dict[str, Any] = {}
            if "metadata.json" in members:
                try:
                    metadata = json.loads(archive.read("metadata.json"))
                except json.JSONDecodeError:
                    metadata = {}
            weights = None
            if "model.weights.h5" in members:
                h5py = require_h5py("import")
                blob = io.BytesIO(archive.read("model.weights.h5"))
                try:
                    weights = h5py.File(blob, "r")
                except OSError as error:
                    raise DataError(f"{path}: model.weights.h5 is not HDF5: {error}") from None
            elif "model.weights.npz" in members:
                raise DataError(f"{path}: .npz weights inside a .keras archive are not supported")
    except zipfile.BadZipFile as error:
        raise DataError(f"{path}: damaged or truncated archive: {error}") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: cannot read archive: {error}") from None
    version = str(metadata.get("keras_version", "")) if isinstance(metadata, dict) else ""
    config = _parse_json(text, f"{path}:config.json")
    return KerasFile(path, config, text, f"{path}:config.json", weights, "keras3", version)


def _check_member(path: str, info: zipfile.ZipInfo, max_bytes: int, archive_size: int) -> None:
    cap = min(max_bytes, MAX_CONFIG_BYTES) if info.filename.endswith(".json") else max_bytes
    if info.file_size > cap:
        raise ResourceError(
            f"{path}: member {info.filename} declares {format_bytes(info.file_size)}, over the "
            f"memory limit of {format_bytes(cap)}"
        )
    try:
        vet_zip_member(info, archive_size, f"{path}: member {info.filename}")
    except Refused as refused:
        raise DataError(str(refused)) from None


def _read_h5(path: str) -> KerasFile:
    h5py = require_h5py("import")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DataError(f"{path}: cannot read HDF5: {error}") from None
    raw = handle.attrs.get("model_config")
    if raw is None:
        handle.close()
        raise DataError(
            f"{path}: no model_config attribute (a weights-only .h5?); give the full model "
            "file saved by model.save"
        )
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    version = handle.attrs.get("keras_version", "")
    version = version.decode() if isinstance(version, bytes) else str(version)
    if "model_weights" in handle:
        weights_group = handle["model_weights"]
    else:
        weights_group = None
    try:
        config = _parse_json(text, f"{path}:model_config")
    except DataError:
        handle.close()
        raise
    found = KerasFile(path, config, text, f"{path}:model_config", handle, "legacy", version)
    if weights_group is None:
        found.layout = "none"
    return found
