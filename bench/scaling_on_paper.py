#!/usr/bin/python3
"""The table of docs/design.md "Scaling across machines, on paper": data-parallel ResNet-18
(1000 classes, 224 px) on N nodes, the gradient sum (reduce-scatter + allgather: each node sends
and receives 2(N-1)/N of the gradients, plus 2(N-1) message latencies) with and without
overlapping it with the backward pass in buckets (train/grad_buckets.h).

A model, not a measurement: compute runs at R images/s per node (a measured single-node figure
scaled to the node's cores, see design.md); backward is 2/3 of a step, spread over the layers by
their convolution FLOPs (weight and input gradients, conv1 only the weight gradient), in the
order our tape replays them (in a residual block: bn2, conv2, the downsample, bn1, conv1). A
bucket (the parameters in reverse model order, cut as GradBuckets cuts them) can start once
backward has passed its last parameter and the bucket before it has started; the link carries
one bucket at a time. What is not hidden behind backward is added to the step.

    /usr/bin/python3 bench/scaling_on_paper.py [--rate 384] [--bucket-mb 10] [--latency-us 20]
"""
import argparse


def resnet18(classes=1000, size=224):
    """Parameters in model order as (name, floats, backward FLOPs of the node that completes them)."""
    params = []

    def conv(name, c, o, k, stride, hw, first=False):
        out = hw // stride
        flops = 2 * out * out * c * o * k * k  # one pass, multiply-adds as 2
        params.append((name + ".weight", c * o * k * k, flops * (1 if first else 2)))
        return out

    def bn(name, c):
        params.append((name + ".weight", c, 0))
        params.append((name + ".bias", c, 0))

    hw = conv("conv1", 3, 64, 7, 2, size, first=True)
    bn("bn1", 64)
    hw //= 2  # max pool
    inp = 64
    for layer, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
        for b in range(2):
            s = stride if b == 0 else 1
            pre = f"layer{layer}.{b}"
            out = conv(pre + ".conv1", inp, planes, 3, s, hw)
            bn(pre + ".bn1", planes)
            conv(pre + ".conv2", planes, planes, 3, 1, out)
            bn(pre + ".bn2", planes)
            if b == 0 and (s != 1 or inp != planes):
                conv(pre + ".downsample.0", inp, planes, 1, s, hw)
                bn(pre + ".downsample.1", planes)
            hw, inp = out, planes
    params.append(("fc.weight", 512 * classes, 2 * 2 * 512 * classes))
    params.append(("fc.bias", classes, 0))
    return params


def backward_order(params):
    """The order backward completes parameters: the reverse of the forward's node order, where a
    block's downsample runs right after its conv1 in the forward pass."""
    names = [n for n, _, _ in params]
    forward = []
    i = 0
    while i < len(names):
        n = names[i]
        if n.startswith("layer") and ".conv1." in n:
            block = n.rsplit(".conv1", 1)[0]
            group = [m for m in names if m.startswith(block + ".")]
            conv1 = [m for m in group if ".conv1" in m or ".bn1" in m]
            down = [m for m in group if ".downsample" in m]
            rest = [m for m in group if m not in conv1 and m not in down]
            forward += conv1 + down + rest
            i += len(group)
        else:
            forward.append(n)
            i += 1
    return list(reversed(forward))


def buckets(params, cap_bytes):
    out = []
    for name, n, _ in reversed(params):
        if not out or (out[-1][1] > 0 and (out[-1][1] + n) * 4 > cap_bytes):
            out.append([[], 0])
        out[-1][0].append(name)
        out[-1][1] += n
    return out


def exposed_comm(params, cap_bytes, backward_s, bw_bytes, nodes, latency_s):
    """Seconds of the sum after backward ends, when backward takes backward_s."""
    flops = {n: f for n, _, f in params}
    total = sum(flops.values())
    done_at, t = {}, 0.0
    for n in backward_order(params):
        t += backward_s * flops[n] / total
        done_at[n] = t
    free = 0.0  # when the link is free
    for names, n in buckets(params, cap_bytes):
        ready = max(done_at[m] for m in names)
        cost = 2 * (nodes - 1) / nodes * n * 4 / bw_bytes + 2 * (nodes - 1) * latency_s
        free = max(free, ready) + cost
    return max(0.0, free - backward_s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=384, help="images/s of one node's compute")
    ap.add_argument("--bucket-mb", type=float, default=10)
    ap.add_argument("--latency-us", type=float, default=20)
    a = ap.parse_args()
    params = resnet18()
    total_bytes = 4 * sum(n for _, n, _ in params)
    print(f"ResNet-18: {total_bytes / 1e6:.1f} MB of gradients, {len(buckets(params, a.bucket_mb * 1e6))} buckets "
          f"of <= {a.bucket_mb:g} MB: " + ", ".join(f"{4 * n / 1e6:.1f}" for _, n in buckets(params, a.bucket_mb * 1e6)))
    print("| network | nodes | t_comm per step | comm share at 64 img/node, no overlap -> overlap | "
          "per-node batch for 80%, no overlap -> overlap | global batch with overlap |")
    print("|---|---|---|---|---|---|")
    for gbps in (10, 100):
        bw = gbps * 1e9 / 8
        for nodes in (8, 32, 128):
            lat = a.latency_us * 1e-6
            t_comm = 2 * (nodes - 1) / nodes * total_bytes / bw + 2 * (nodes - 1) * lat
            flat = {"exposed": lambda b: t_comm}
            over = {"exposed": lambda b: exposed_comm(params, a.bucket_mb * 1e6, 2 / 3 * b / a.rate, bw, nodes, lat)}
            row = []
            for m in (flat, over):
                comp = 64 / a.rate
                row.append(m["exposed"](64) / (comp + m["exposed"](64)))
            need = []
            for m in (flat, over):
                b = 1
                while b < 100000 and (b / a.rate) / (b / a.rate + m["exposed"](b)) < 0.8:
                    b += 1
                need.append(b)
            print(f"| {gbps} Gb/s | {nodes} | {1000 * t_comm:.0f} ms | {100 * row[0]:.0f}% -> {100 * row[1]:.0f}% | "
                  f"{need[0]} -> {need[1]} | {need[1] * nodes:,} |")


if __name__ == "__main__":
    main()
