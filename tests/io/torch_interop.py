"""safetensors interop with PyTorch for io_test's TorchInterop cases: a self-contained
reader/writer of the format (Debian has no safetensors package), used on torch tensors.

  torch_interop.py write DIR   writes DIR/model.safetensors and DIR/extra.safetensors
  torch_interop.py read DIR    checks DIR/cpp.safetensors and DIR/cpp_extra.safetensors
"""
import json
import struct
import sys

import torch

NAMES = {torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16", torch.float16: "F16",
         torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}
DTYPES = {name: dtype for dtype, name in NAMES.items()}
# Floats that bf16 cannot hold exactly; both sides round them to nearest even.
ROUNDED = [0.1, 1.0 / 3.0, -2.7, 1e-3, 65504.5, 3.14159]


class Net(torch.nn.Module):
    """The tensors of a torchvision ResNet stem and head, with its state-dict names."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)


def pattern(numel, step, modulus, base):
    return (torch.arange(numel) % modulus).to(torch.float32) * step + base


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save(tensors, path, metadata=None):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, f"header length {n} is not a multiple of 8"
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + n:]
    out, covered = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        assert begin == covered, f"{name}: starts at {begin}, expected {covered}"
        covered = end
        dtype = DTYPES[info["dtype"]]
        if begin == end:
            out[name] = torch.empty(info["shape"], dtype=dtype)
            continue
        raw = bytearray(buffer[begin:end])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    assert covered == len(buffer), f"{len(buffer) - covered} trailing bytes"
    return out, metadata


def expect_equal(name, got, want):
    if got.dtype != want.dtype or got.shape != want.shape or not torch.equal(got, want):
        sys.exit(f"{name}: got {got.dtype} {list(got.shape)} {got.flatten()[:8].tolist()}, "
                 f"want {want.dtype} {list(want.shape)} {want.flatten()[:8].tolist()}")


def write(directory):
    net = Net()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.copy_(pattern(t.numel(), 0.125, 17, -1.0).reshape(t.shape))
        net.bn1.num_batches_tracked.fill_(4096)
    save(net.state_dict(), f"{directory}/model.safetensors", {"format": "pt"})
    source = torch.tensor(ROUNDED, dtype=torch.float32)
    save({"bf16": source.to(torch.bfloat16), "bf16_source": source, "f16": torch.tensor([1.0, -2.0, 0.5], dtype=torch.float16),
          "i64": torch.tensor(-9, dtype=torch.int64)}, f"{directory}/extra.safetensors", {"producer": "torch"})


def read(directory):
    state, metadata = load(f"{directory}/cpp.safetensors")
    net = Net()
    net.load_state_dict(state, strict=True)  # also checks names, shapes and the I64 scalar
    for name, t in state.items():
        if name.endswith("num_batches_tracked"):
            expect_equal(name, t, torch.tensor(321, dtype=torch.int64))
        else:
            expect_equal(name, t, pattern(t.numel(), 0.25, 13, -1.5).reshape(t.shape))
    extra, metadata = load(f"{directory}/cpp_extra.safetensors")
    if metadata != {"producer": "bigbatch"}:
        sys.exit(f"metadata: {metadata}")
    expect_equal("bf16", extra["bf16"], torch.tensor(ROUNDED, dtype=torch.float32).to(torch.bfloat16).reshape(2, 3))
    expect_equal("f16", extra["f16"], torch.tensor([1.0, -2.0, 0.5], dtype=torch.float16))
    expect_equal("i64", extra["i64"], torch.tensor(-9, dtype=torch.int64))
    expect_equal("empty", extra["empty"], torch.empty(0, 3))
    try:  # the reference implementation too, where it is installed
        import safetensors.torch
        expect_equal("reference bf16", safetensors.torch.load_file(f"{directory}/cpp_extra.safetensors")["bf16"], extra["bf16"])
    except ImportError:
        pass


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
