"""Hostile weight files for the security tests: payloads written as pickle opcodes, and the
containers torch and masa read (torch zip, torch's legacy stream, raw pickles, legacy tar).

A payload is the opcode text of one pickled object whose unpickling would do something visible:
create the sentinel file. `run_plainly` unpickles a payload with the standard library to prove
that it is live; the tests then check that no masa reader lets it run.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

PROTOCOLS = (0, 1, 2, 3, 4, 5)


class Ops:
    """Pickle opcodes as a given protocol writes them (text opcodes for 0, binary above,
    STACK_GLOBAL and short strings from 4 on, as Python's pickler does)."""

    def __init__(self, protocol: int) -> None:
        self.protocol = protocol

    def str(self, text: str) -> bytes:
        data = text.encode()
        if self.protocol >= 4 and len(data) < 256:
            return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data
        if self.protocol >= 1:
            return pickle.BINUNICODE + struct.pack("<I", len(data)) + data
        return pickle.UNICODE + text.encode("raw-unicode-escape") + b"\n"

    def int(self, value: int) -> bytes:
        if self.protocol >= 1:
            return pickle.BININT + struct.pack("<i", value)
        return pickle.INT + str(value).encode() + b"\n"

    def glob(self, module: str, name: str) -> bytes:
        if self.protocol >= 4:
            return self.str(module) + self.str(name) + pickle.STACK_GLOBAL
        return pickle.GLOBAL + f"{module}\n{name}\n".encode()

    def tuple(self, *items: bytes) -> bytes:
        return pickle.MARK + b"".join(items) + pickle.TUPLE

    def call(self, func: bytes, *args: bytes) -> bytes:
        return func + self.tuple(*args) + pickle.REDUCE

    def dict(self, **items: bytes) -> bytes:
        empty = pickle.EMPTY_DICT if self.protocol >= 1 else pickle.MARK + pickle.DICT
        return empty + b"".join(self.str(k) + v + pickle.SETITEM for k, v in items.items())

    def stream(self, body: bytes) -> bytes:
        """A whole pickle: protocol header (2+), the object, STOP."""
        header = pickle.PROTO + bytes([self.protocol]) if self.protocol >= 2 else b""
        return header + body + pickle.STOP


def _os_system(o: Ops, s: Path) -> bytes:
    return o.call(o.glob("os", "system"), o.str(f"touch {s}"))


def _posix_system(o: Ops, s: Path) -> bytes:  # what pickling os.system writes on Linux
    return o.call(o.glob("posix", "system"), o.str(f"touch {s}"))


def _subprocess_popen(o: Ops, s: Path) -> bytes:
    return o.call(o.glob("subprocess", "Popen"), o.tuple(o.str("touch"), o.str(str(s))))


def _subprocess_check_call(o: Ops, s: Path) -> bytes:
    return o.call(o.glob("subprocess", "check_call"), o.tuple(o.str("touch"), o.str(str(s))))


def _builtins_eval(o: Ops, s: Path) -> bytes:
    return o.call(o.glob("builtins", "eval"), o.str(f"open({str(s)!r}, 'w').close()"))


def _builtins_exec(o: Ops, s: Path) -> bytes:
    return o.call(o.glob("builtins", "exec"), o.str(f"import os; os.system('touch {s}')"))


def _getattr_chain(o: Ops, s: Path) -> bytes:
    """getattr(__import__("os"), "system")("touch S"): no dangerous name in any one GLOBAL."""
    module = o.call(o.glob("builtins", "__import__"), o.str("os"))
    system = o.call(o.glob("builtins", "getattr"), module, o.str("system"))
    return o.call(system, o.str(f"touch {s}"))


def _setstate_build(o: Ops, s: Path) -> bytes:
    """An allowed object (OrderedDict) whose first BUILD puts `exec` in its `__dict__` as
    `__setstate__`, so that a second BUILD would call it with the code."""
    instance = o.call(o.glob("collections", "OrderedDict"))
    first = o.dict(__setstate__=o.glob("builtins", "exec")) + pickle.BUILD
    return instance + first + o.str(f"import os; os.system('touch {s}')") + pickle.BUILD


def _inside_tensor_rebuild(o: Ops, s: Path) -> bytes:
    """A call hidden in the arguments of torch's own tensor-rebuild function (its
    `backward_hooks`), which every loader allows."""
    hooks = o.call(o.glob("collections", "OrderedDict"),
                   o.tuple(o.tuple(o.tuple(o.int(0), _os_system(o, s)))))
    return o.call(o.glob("torch._utils", "_rebuild_tensor_v2"),
                  o.int(0), o.int(0), o.tuple(o.int(1)), o.tuple(o.int(1)), pickle.NEWFALSE, hooks)


def _torch_save(o: Ops, s: Path) -> bytes:
    """A torch function that is not a tensor constructor: torch.save writes the sentinel."""
    return o.call(o.glob("torch.serialization", "save"), o.dict(), o.str(str(s)))


def _torch_save_top_level(o: Ops, s: Path) -> bytes:
    return o.call(o.glob("torch", "save"), o.dict(), o.str(str(s)))


def _torch_hub_download(o: Ops, s: Path) -> bytes:
    """torch.hub.download_url_to_file copies a (file://) URL to the sentinel."""
    return o.call(o.glob("torch.hub", "download_url_to_file"), o.str(Path(__file__).as_uri()),
                  o.str(str(s)), pickle.NONE, pickle.NEWFALSE)


#: name -> builder(ops, sentinel) of the payload object's opcodes.
PAYLOADS: dict[str, Callable[[Ops, Path], bytes]] = {
    "os.system": _os_system,
    "posix.system": _posix_system,
    "subprocess.Popen": _subprocess_popen,
    "subprocess.check_call": _subprocess_check_call,
    "builtins.eval": _builtins_eval,
    "builtins.exec": _builtins_exec,
    "getattr-chain": _getattr_chain,
    "setstate-build": _setstate_build,
    "inside-tensor-rebuild": _inside_tensor_rebuild,
    "torch.serialization.save": _torch_save,
    "torch.save": _torch_save_top_level,
    "torch.hub.download_url_to_file": _torch_hub_download,
}


def checkpoint_pickle(payload: str, sentinel: Path, protocol: int) -> bytes:
    """`{"state_dict": <payload>}` as one pickle stream of `protocol`."""
    o = Ops(protocol)
    return o.stream(o.dict(state_dict=PAYLOADS[payload](o, sentinel)))


def run_plainly(data: bytes) -> None:
    """Unpickles with the standard library (what an unsafe loader does); errors after the
    payload ran are ignored."""
    try:
        pickle.loads(data)
    except Exception:  # noqa: BLE001 - only the side effect matters
        pass


def _torch_zip(data_pkl: bytes) -> bytes:
    """A torch zip file (as torch.save writes it) whose `data.pkl` is `data_pkl`."""
    template = io.BytesIO()
    torch.save({}, template)
    out = io.BytesIO()
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = data_pkl if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info.filename, body)
    return out.getvalue()


def _legacy_stream(data_pkl: bytes) -> bytes:
    """torch's legacy (non-zip) format: magic number, protocol version, system info, the object,
    then the storage keys, each a pickle."""
    header = [torch.serialization.MAGIC_NUMBER, torch.serialization.PROTOCOL_VERSION,
              {"protocol_version": 1001, "little_endian": sys.byteorder == "little",
               "type_sizes": {"short": 2, "int": 4, "long": 4}}]
    return b"".join(pickle.dumps(h, protocol=2) for h in header) + data_pkl + pickle.dumps([], 2)


def _legacy_tar(data_pkl: bytes) -> bytes:
    """torch < 0.4's tar format: `storages`, `tensors` and `pickle` members, all pickles."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("storages", "tensors", "pickle"):
            info = tarfile.TarInfo(name)
            info.size = len(data_pkl)
            tar.addfile(info, io.BytesIO(data_pkl))
    return out.getvalue()


#: name -> (protocol of the payload pickle, wrapper of that pickle into the file's bytes).
CONTAINERS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    **{f"raw-p{p}": (p, lambda b: b) for p in PROTOCOLS},
    "zip-p2": (2, _torch_zip),
    "zip-p5": (5, _torch_zip),
    "legacy-p2": (2, _legacy_stream),
    "legacy-p5": (5, _legacy_stream),
    "tar-p2": (2, _legacy_tar),
}

#: A file name per container whose extension says something else than the content.
LYING_NAMES = {
    "raw-p0": "weights.pth", "raw-p1": "weights.bin", "raw-p2": "model.safetensors",
    "raw-p3": "model.onnx", "raw-p4": "evil.pth", "raw-p5": "evil.pt",
    "zip-p2": "FastestDet.onnx", "zip-p5": "model.safetensors", "legacy-p2": "weights.tar",
    "legacy-p5": "config.json", "tar-p2": "checkpoint.zip",
}


def write_hostile(folder: Path, container: str, payload: str, sentinel: Path,
                  name: str | None = None) -> Path:
    """Writes a hostile file; `name` defaults to the container's lying name."""
    protocol, wrap = CONTAINERS[container]
    path = folder / (name or LYING_NAMES[container])
    path.write_bytes(wrap(checkpoint_pickle(payload, sentinel, protocol)))
    return path
