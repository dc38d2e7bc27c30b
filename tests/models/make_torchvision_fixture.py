#!/usr/bin/python3
"""Writes fixtures/<model>_state_dict.txt: torchvision's state-dict entries in order, one per
line, "param|buffer <name> <dims...>" (a 0-dim tensor has no dims). Run once with Debian's
torchvision:  /usr/bin/python3 tests/models/make_torchvision_fixture.py"""
import os

import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name):
    # Inception-v3 warns without an explicit init_weights (its default init is slow, not different).
    kwargs = {"init_weights": True} if name == "inception_v3" else {}
    model = getattr(torchvision.models, name)(**kwargs)
    params = {n for n, _ in model.named_parameters()}
    path = os.path.join(HERE, "fixtures", name + "_state_dict.txt")
    with open(path, "w") as f:
        f.write("# torchvision %s %s state dict, from make_torchvision_fixture.py\n" % (torchvision.__version__, name))
        for key, tensor in model.state_dict().items():
            kind = "param" if key in params else "buffer"
            f.write(" ".join([kind, key] + [str(d) for d in tensor.shape]) + "\n")


if __name__ == "__main__":
    for model_name in ("resnet18", "resnet50", "inception_v3"):
        write(model_name)
