#!/usr/bin/env python3
"""Writes small CIFAR-10 and CIFAR-100 copies in both official formats, for the tests.

    python3 scripts/peer/make_cifar_fixtures.py [OUT]      (default: tests/fixtures/cifar)

The python version is what torchvision downloads: Python 2 cPickle dumps (protocol 2) of a dict
with byte-string keys whose `data` is a numpy uint8 array of shape (N, 3072) pickled through
`numpy.core.multiarray._reconstruct`. Python 3's pickler writes `bytes` differently
(`_codecs.encode`) and needs numpy for the array, so this script subclasses the pure-Python
pickler to emit what Python 2 emitted: SHORT_BINSTRING/BINSTRING for byte strings, and the
GLOBAL/REDUCE/BUILD sequence of numpy's `ndarray.__reduce__` and `dtype.__reduce__`. The
opcodes match the head of the real `data_batch_1`:

    \\x80\\x02}q\\x01(U\\x04dataq\\x02cnumpy.core.multiarray\\n_reconstruct\\nq\\x03cnumpy\\nndarray...

The binary version holds the same images, so a test can check that both formats (and the
.tar.gz) read to the same pixels and labels. Pixel p of image k of a split is (31k + 7p) mod 256;
CIFAR-10 labels are k mod 10, CIFAR-100 fine labels 7k mod 100 (coarse = fine // 5).
Everything is deterministic (tar and gzip headers carry no time), so rerunning it reproduces the
committed files byte for byte. Needs only the standard library.
"""

import gzip
import io
import os
import pickle
import struct
import sys
import tarfile

PIXELS = 3 * 32 * 32


class Global:
    """A reference to module.name, pickled as GLOBAL (never imported)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # save_reduce insists on a callable
        raise TypeError("a stand-in for pickling only")


class Reduced:
    """An object pickled as callable(*args) followed by BUILD(state), like numpy's."""

    def __init__(self, func, args, state):
        self.func, self.args, self.state = func, args, state


def ndarray_u8(rows, cols, data):
    dtype = Reduced(Global("numpy", "dtype"), (b"u1", 0, 1), (3, b"|", None, None, None, -1, -1, 0))
    return Reduced(
        Global("numpy.core.multiarray", "_reconstruct"),
        (Global("numpy", "ndarray"), (0,), b"b"),
        (1, (rows, cols), dtype, False, data),
    )


class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote it for str, numpy arrays and dtypes."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_global_ref(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    def save_reduced(self, obj):
        self.save_reduce(obj.func, obj.args, state=obj.state, obj=obj)

    dispatch[bytes] = save_py2_str
    dispatch[Global] = save_global_ref
    dispatch[Reduced] = save_reduced


def dumps(obj):
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def images(start, count):
    """(pixels, global indices) of images start..start+count of a split."""
    data = bytes((31 * k + 7 * p) % 256 for k in range(start, start + count) for p in range(PIXELS))
    return data, list(range(start, start + count))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def cifar10(out, train_batches, per_batch, test_count):
    py = os.path.join(out, "cifar-10-batches-py")
    binary = os.path.join(out, "cifar-10-batches-bin")
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    batches = [(f"data_batch_{i + 1}", f"training batch {i + 1} of 5", i * per_batch, per_batch) for i in range(train_batches)]
    batches.append(("test_batch", "testing batch 1 of 1", 0, test_count))
    for name, label, start, count in batches:
        data, ks = images(start, count)
        labels = [k % 10 for k in ks]
        write(os.path.join(py, name), dumps({
            b"batch_label": label.encode(),
            b"labels": labels,
            b"data": ndarray_u8(count, PIXELS, data),
            b"filenames": [f"img_{k:05d}.png".encode() for k in ks],
        }))
        write(os.path.join(binary, name + ".bin"),
              b"".join(bytes([l]) + data[i * PIXELS:(i + 1) * PIXELS] for i, l in enumerate(labels)))
    write(os.path.join(py, "batches.meta"), dumps({
        b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": PIXELS}))
    write(os.path.join(binary, "batches.meta.txt"), b"\n".join(names) + b"\n")
    return py


def cifar100(out, train_count, test_count):
    py = os.path.join(out, "cifar-100-python")
    binary = os.path.join(out, "cifar-100-binary")
    for name, count in [("train", train_count), ("test", test_count)]:
        data, ks = images(0, count)
        fine = [(7 * k) % 100 for k in ks]
        coarse = [f // 5 for f in fine]
        write(os.path.join(py, name), dumps({
            b"filenames": [f"img_{k:05d}.png".encode() for k in ks],
            b"batch_label": name.encode(),
            b"fine_labels": fine,
            b"coarse_labels": coarse,
            b"data": ndarray_u8(count, PIXELS, data),
        }))
        write(os.path.join(binary, name + ".bin"),
              b"".join(bytes([c, f]) + data[i * PIXELS:(i + 1) * PIXELS] for i, (c, f) in enumerate(zip(coarse, fine))))
    write(os.path.join(py, "meta"), dumps({
        b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)]}))


def tar_gz(out, directory, name):
    """directory (relative to out) as out/name, with no times, owners or permissions that vary."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = os.path.join(out, directory)
        for entry in [directory] + [os.path.join(directory, f) for f in sorted(os.listdir(root))]:
            info = tar.gettarinfo(os.path.join(out, entry), arcname=entry)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isdir():
                tar.addfile(info)
            else:
                with open(os.path.join(out, entry), "rb") as f:
                    tar.addfile(info, f)
    with open(os.path.join(out, name), "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
            gz.write(raw.getvalue())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/cifar"
    cifar10(out, train_batches=5, per_batch=2, test_count=3)
    cifar100(out, train_count=4, test_count=2)
    tar_gz(out, "cifar-10-batches-py", "cifar-10-python.tar.gz")
    tar_gz(out, "cifar-100-python", "cifar-100-python.tar.gz")
    # A copy with one file cut short: the first half of data_batch_1.
    source = os.path.join(out, "cifar-10-batches-py")
    for name in sorted(os.listdir(source)):
        with open(os.path.join(source, name), "rb") as f:
            whole = f.read()
        cut = whole[: len(whole) // 2] if name == "data_batch_1" else whole
        write(os.path.join(out, "truncated", "cifar-10-batches-py", name), cut)
    print(f"wrote CIFAR-10 and CIFAR-100 fixtures (python, binary, .tar.gz, truncated) under {out}")


if __name__ == "__main__":
    main()
