"""safetensors load/save with json and numpy only (Debian 12 has no Python
`safetensors` package). Same format and the same checks as the reference
implementation: 8-byte little-endian header length N, N bytes of JSON
{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}} padded with
spaces to a multiple of 8, then the tensors' little-endian bytes, which must
tile the data section exactly.

    tensors, metadata = st.load("w.safetensors")    # {name: numpy array}
    st.save("w.safetensors", {"c1.weight": array, ...}, {"format": "pt"})
    st.save_state_dict("w.safetensors", model.state_dict())
    model.load_state_dict(st.load_state_dict("w.safetensors"), strict=True)
"""
import json
import struct

import numpy as np

# BF16 has no numpy dtype: it is read as uint16 and widened to float32.
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
NAMES = {np.dtype(v).newbyteorder("<") if v.itemsize > 1 else v: k
         for k, v in DTYPES.items() if k != "BF16"}
MAX_HEADER = 100_000_000


class FormatError(ValueError):
    pass


def load(path):
    """({name: numpy array}, metadata dict). BF16 comes back as float32."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise FormatError(f"{path}: {len(data)} bytes, too short")
    (length,) = struct.unpack("<Q", data[:8])
    if length > MAX_HEADER or length > len(data) - 8:
        raise FormatError(f"{path}: header length {length} is absurd or beyond the file")
    header = json.loads(data[8:8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + length:]
    tensors, spans = {}, []
    for name, info in header.items():
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise FormatError(f"{path}: tensor {name!r}: unknown dtype {info['dtype']!r}")
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(v) for v in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dtype.itemsize or not 0 <= begin <= end <= len(body):
            raise FormatError(f"{path}: tensor {name!r}: data_offsets {begin, end} "
                              f"do not fit shape {list(shape)} of {info['dtype']}")
        array = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape)
        if info["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array.astype(array.dtype.newbyteorder("="))
        spans.append((begin, end, name))
    covered = 0
    for begin, end, name in sorted(spans):
        if begin != covered:
            raise FormatError(f"{path}: tensor {name!r} starts at {begin}, expected {covered}")
        covered = end
    if covered != len(body):
        raise FormatError(f"{path}: {len(body) - covered} stray bytes after the tensors")
    return tensors, metadata


def save(path, tensors, metadata=None):
    """Writes {name: numpy array or torch tensor}. Tensors are laid out by
    alignment (8-byte dtypes first), then by name, as the reference does."""
    arrays = {}
    for name, value in tensors.items():
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        key = value.dtype.newbyteorder("<") if value.dtype.itemsize > 1 else value.dtype
        if key not in NAMES:
            raise FormatError(f"tensor {name!r}: dtype {value.dtype} has no safetensors name")
        arrays[name] = np.ascontiguousarray(value, dtype=key)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset, chunks = 0, []
    for name in sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n)):
        array = arrays[name]
        raw = array.tobytes()
        header[name] = {"dtype": NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def save_state_dict(path, state_dict):
    save(path, dict(state_dict), {"format": "pt"})


def load_state_dict(path):
    import torch
    tensors, _ = load(path)
    return {name: torch.from_numpy(np.array(array)) for name, array in tensors.items()}
