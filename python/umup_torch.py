#!/usr/bin/env python3
"""umup_torch.py - umup checkpoints in PyTorch (standard library + numpy + torch).

A umup checkpoint is a safetensors file: the parameters under the reference TransformerDecoder's
names, the optimizer moments under the prefix "optim." (full checkpoints only), and the run's
settings as strings in "__metadata__". This module reads and writes such files without the
safetensors package, builds umup.h's u-muP decoder in PyTorch with the same unit-scaled ops (the
same forward and backward scales as umup.h's sections 2-6, as autograd functions), and loads the
weights by name with a strict load_state_dict.

As a library:
    from umup_torch import load_state_dict, UmupDecoder, save_checkpoint
    sd, cfg = load_state_dict("run.safetensors")   # drops the "optim." keys
    model = UmupDecoder(cfg)
    model.load_state_dict(sd, strict=True)
    logits = model(ids)                            # [B, T, vocab], as umup_model_logits
    save_checkpoint("init.safetensors", model, cfg) # a weights-only umup checkpoint

Command line (the checks exit 1 when a tolerance is missed):
    umup_torch.py info CKPT                     the settings and tensors of a checkpoint
    umup_torch.py check CKPT BATCH              logits (and loss, gradients) of umup on BATCH
                                                against this port; also a strict load_state_dict
    umup_torch.py export CKPT OUT [--seed S] [--batch BATCH --logits OUTBATCH]
                                                a new model with CKPT's settings, initialised in
                                                torch (u-muP: N(0,1)), saved as a umup weights file;
                                                with --batch, its logits on BATCH written to OUTBATCH
    umup_torch.py reference REF                 the port against the reference library's decoder
                                                values (tests/data/umup_ref.bin: loss, gradients)

BATCH files ("UMUPBAT1", little-endian): int32 B, T, V, n_grads; ids int32 [B, T]; targets int32
[B, T]; logits float32 [B, T, V]; loss float32; then, when n_grads > 0, the unit-scaled gradient of
every parameter tensor in checkpoint order (float32, n_grads values in all).

Only the u-muP parametrization is ported (param "umup"); FP8 simulation is not (compare against
umup with fp8 "none"); dropout is an identity (evaluation).
"""
import argparse
import json
import math
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

# ---- safetensors ----------------------------------------------------------------------------------

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """(tensors, metadata): an OrderedDict name -> numpy array (in file order) and the metadata dict."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: not a safetensors file")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ValueError(f"{path}: bad header length")
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    data = memoryview(blob)[8 + hlen:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = OrderedDict()
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if e["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {e['dtype']}, which this reader does not handle")
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<"))
        tensors[name] = arr.reshape(e["shape"]).astype(_DTYPES[e["dtype"]])
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes name -> array (float32 unless the array is another listed dtype) in the given order."""
    names = {v: k for k, v in _DTYPES.items()}
    header, chunks, off = OrderedDict(), [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.type not in names:
            arr = arr.astype(np.float32)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[arr.dtype.type], "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


# ---- the recorded settings ---------------------------------------------------------------------------

_INT = ("vocab", "width", "layers", "heads", "head_size", "max_seq", "mlp_expansion", "warmup", "total", "seed",
        "base_head_size")
_FLOAT = ("dropout", "completep_alpha", "sigma_emb", "alpha_emb", "alpha_out", "alpha_attn", "alpha_ffn_act",
          "alpha_res", "alpha_res_attn_ratio", "alpha_loss_softmax", "mus_tau", "lr", "beta1", "beta2", "eps",
          "momentum", "weight_decay", "clip_norm", "clip_rms", "min_ratio", "sdpa_scale")
_BOOL = ("rope", "nesterov", "readout_zero_init", "fp8_custom_formats", "fp8_attention")
# format 1 wrote these enums as numbers
_ENUMS = {"norm": ["rms", "layer"], "depth_mode": ["layers", "2x_layers"],
          "depth_rule": ["default", "none", "depth_mup", "completep"], "fp8": ["none", "all", "umup"],
          "fp8_rounding": ["rne", "sr", "sr16"], "schedule": ["constant", "cosine", "linear"], "mlp": ["swiglu", "gelu"]}
# added by format 3 (a format-2 file without them has their defaults)
_V3 = ("base_head_size", "mlp", "sdpa_scale", "fp8_attention")


def config_from_metadata(meta):
    """The settings of a umup checkpoint's metadata as Python values (ints, floats, bools, names)."""
    fmt = meta.get("format", "")
    if fmt not in ("umup-checkpoint-1", "umup-checkpoint-2", "umup-checkpoint-3"):
        raise ValueError(f"not a umup checkpoint (format {fmt!r})")
    cfg = {}
    for k, v in meta.items():
        if k in _INT:
            cfg[k] = int(v)
        elif k in ("base_width", "base_depth"):
            cfg[k] = 0 if v == "auto" else int(v)
        elif k in _FLOAT:
            cfg[k] = float(v)
        elif k in _BOOL:
            cfg[k] = v in ("true", "1")
        elif k in _ENUMS:
            cfg[k] = _ENUMS[k][int(v)] if v.isdigit() else v
        else:
            cfg[k] = v
    if "head_size" not in cfg:
        cfg["head_size"] = cfg["width"] // cfg["heads"]
    return cfg


def metadata_from_config(cfg, contents="weights", step=0):
    """The metadata strings of a umup checkpoint for cfg (floats written exactly): format 3, or format 2
    when cfg came from a format-2 file (without the format-3 settings)."""
    fmt = "umup-checkpoint-3" if all(k in cfg for k in _V3) else "umup-checkpoint-2"
    meta = OrderedDict([("format", fmt), ("contents", contents), ("step", str(step))])
    for k, v in cfg.items():
        if k in ("format", "contents", "step", "writer"):
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif k in ("base_width", "base_depth") and v == 0:
            v = "auto"
        elif isinstance(v, float):
            v = repr(v) if k in ("lr", "beta1", "beta2", "eps", "momentum", "weight_decay", "clip_norm", "clip_rms") \
                else str(np.float32(v))  # the shortest text that reads back as the same float32
        meta[k] = str(v)
    meta["writer"] = "umup_torch.py"
    return meta


def load_state_dict(path, dtype=torch.float64):
    """(state_dict, cfg) of a umup checkpoint: the parameters only (every "optim." key dropped),
    as torch tensors of dtype, ready for a strict load_state_dict."""
    tensors, meta = read_safetensors(path)
    sd = OrderedDict((k, torch.from_numpy(np.array(v)).to(dtype)) for k, v in tensors.items()
                     if not k.startswith("optim."))
    return sd, config_from_metadata(meta)


# ---- unit-scaled ops (umup.h sections 2-6): forward and backward scales as autograd functions ------

class _ScaleFwd(torch.autograd.Function):
    """y = s x in the forward pass, dx = dy in the backward pass (umup_scale_fwd)."""
    @staticmethod
    def forward(ctx, x, s):
        return x * s

    @staticmethod
    def backward(ctx, dy):
        return dy, None


class _ScaleBwd(torch.autograd.Function):
    """y = x in the forward pass, dx = s dy in the backward pass (umup_scale_bwd)."""
    @staticmethod
    def forward(ctx, x, s):
        ctx.s = s
        return x.view_as(x)

    @staticmethod
    def backward(ctx, dy):
        return dy * ctx.s, None


def scale_fwd(x, s):
    return _ScaleFwd.apply(x, s)


def scale_bwd(x, s):
    return _ScaleBwd.apply(x, s)


def log_interp(alpha, lower, upper):
    """lower^(1-alpha) upper^alpha (umup_logarithmic_interpolation)."""
    return math.exp(alpha * math.log(upper) + (1.0 - alpha) * math.log(lower))


def linear(x, w, constraint="to_output_scale", readout=False):
    """umup_linear / umup_linear_readout: y = out x W^T, dx = grad0 dy W, dW = grad_w dy^T x, with
    out = in^-1/2 (readout: 1/in), grad0 = out_features^-1/2, grad_w = rows^-1/2, and
    to_output_scale tying grad0 to out."""
    rows = x.numel() // x.shape[-1]
    fan_out, fan_in = w.shape
    out = 1.0 / fan_in if readout else fan_in ** -0.5
    g0 = out if constraint == "to_output_scale" else fan_out ** -0.5
    return scale_fwd(F.linear(scale_bwd(x, g0), scale_bwd(w, rows ** -0.5)), out)


def norm(x, kind):
    """Non-parametric rms_norm / layer_norm with eps 1e-5 (plain backward)."""
    if kind == "layer":
        x = x - x.mean(-1, keepdim=True)
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5)


def silu_glu(x, gate, mult):
    """umup_silu_glu: y = s x gate sigmoid(mult gate), s = log_interp(1/(1+mult^-2), 2, sqrt 2);
    the same s on both input gradients."""
    s = log_interp(1.0 / (1.0 + 1.0 / (mult * mult)), 2.0, math.sqrt(2.0))
    xb, gb = scale_bwd(x, s), scale_bwd(gate, s)
    return scale_fwd(xb * gb * torch.sigmoid(mult * gb), s)


def sdpa(q, k, v, mult):
    """Causal umup_sdpa over q, k, v [B, H, T, D]: logits mult/D q k^T, out = s softmax(.) v with
    s = 1/log_interp(1/(1+4D/mult^2), sqrt(ln T / T), 1) (1 for T = 1), the same s on dq, dk, dv."""
    T, D = q.shape[-2], q.shape[-1]
    a = 1.0 / (1.0 + 4.0 * D / (mult * mult))
    lo = 1.0 if T == 1 else math.sqrt(math.log(T) / T)
    s = 1.0 / log_interp(a, lo, 1.0)
    q, k, v = scale_bwd(q, s), scale_bwd(k, s), scale_bwd(v, s)
    logits = (mult / D) * q @ k.transpose(-1, -2)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    att = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    return scale_fwd(att @ v, s)


def rope(x):
    """Rotary embedding of x [B, H, T, D]: pairs (2i, 2i+1) of position t rotate by t 10000^(-2i/D)."""
    T, D = x.shape[-2], x.shape[-1]
    t = torch.arange(T, dtype=torch.float64, device=x.device)[:, None]
    th = t * torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2.0 * torch.arange(D // 2, dtype=torch.float64) / D)
    c, s = torch.cos(th).to(x.dtype), torch.sin(th).to(x.dtype)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)


def residual_tau(i, depth, alpha_res, ratio):
    """tau of residual branch i (umup_residual_tau, [GC] transformer_residual_scaling_rule)."""
    a_mlp = alpha_res * math.sqrt(2.0 / (1.0 + ratio * ratio))
    a_attn = ratio * a_mlp
    n_attn, n_mlp = (i + 1) // 2, i // 2
    return (a_attn if i % 2 == 0 else a_mlp) / math.sqrt(depth + n_attn * a_attn ** 2 + n_mlp * a_mlp ** 2)


def residual(h, branch, tau):
    """h <- tau/n branch(h) + h/n, n = sqrt(1 + tau^2); the branch's gradient enters unscaled and
    leaves times tau/n (umup_residual_split / residual_add)."""
    n = math.sqrt(1.0 + tau * tau)
    return scale_fwd(branch(scale_bwd(h, tau / n)), tau / n) + h / n


def cross_entropy(logits, targets, mult):
    """Mean cross-entropy of mult logits (targets -1 ignored); the logits' gradient is
    V/sqrt(V-1) (softmax - onehot), with no 1/rows and no mult (unit-scaled, umup_cross_entropy)."""
    V = logits.shape[-1]
    z = logits.reshape(-1, V)
    t = targets.reshape(-1).long()
    counted = int((t >= 0).sum())
    z = scale_bwd(z, V / math.sqrt(V - 1.0) * counted / mult)
    return F.cross_entropy(mult * z, t, ignore_index=-1, reduction="mean")


# ---- the decoder ----------------------------------------------------------------------------------------

class _Attention(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.linear_qkv = torch.nn.Linear(d, 3 * d, bias=False)
        self.linear_o = torch.nn.Linear(d, d, bias=False)


class _MLP(torch.nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.linear_1 = torch.nn.Linear(d, hidden, bias=False)
        self.linear_gate = torch.nn.Linear(d, hidden, bias=False)
        self.linear_2 = torch.nn.Linear(hidden, d, bias=False)


class _Layer(torch.nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.mhsa = _Attention(d)
        self.mlp = _MLP(d, hidden)


class UmupDecoder(torch.nn.Module):
    """umup.h's decoder under u-muP (umup_model_forward / backward), with the reference
    TransformerDecoder's parameter names: embedding.weight, layers.<i>.mhsa.linear_qkv.weight,
    layers.<i>.mhsa.linear_o.weight, layers.<i>.mlp.linear_{1,gate,2}.weight, projection.weight."""

    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        if cfg.get("param", "umup") != "umup":
            raise NotImplementedError(f"only the u-muP parametrization is ported, not {cfg.get('param')!r}")
        if cfg.get("mlp", "swiglu") != "swiglu" or cfg.get("sdpa_scale", 0.0) != 0.0:
            raise NotImplementedError("only the SwiGLU MLP and the attention op's own scale are ported")
        self.cfg = dict(cfg)
        d, V = cfg["width"], cfg["vocab"]
        self.heads = cfg["heads"]
        self.embedding = torch.nn.Embedding(V, d)
        self.layers = torch.nn.ModuleList(_Layer(d, cfg["mlp_expansion"] * d) for _ in range(cfg["layers"]))
        self.projection = torch.nn.Linear(d, V, bias=False)
        depth = cfg["layers"] * (2 if cfg.get("depth_mode", "layers") == "2x_layers" else 1)
        self.taus = [residual_tau(i, depth, cfg.get("alpha_res", 1.0), cfg.get("alpha_res_attn_ratio", 1.0))
                     for i in range(2 * cfg["layers"])]
        with torch.no_grad():  # u-muP's unit init: every weight N(0, 1)
            for p in self.parameters():
                p.normal_()
        self.to(dtype)

    def forward(self, ids):
        """Logits [B, T, vocab] of ids [B, T] (not multiplied by alpha_loss_softmax)."""
        cfg = self.cfg
        B, T = ids.shape
        N = B * T
        nk = cfg.get("norm", "rms")
        w = scale_bwd(self.embedding.weight, math.sqrt(cfg["vocab"] / N))
        h = F.embedding(ids.long(), w)
        for li, layer in enumerate(self.layers):
            def attn(x, layer=layer):
                qkv = linear(norm(x, nk), layer.mhsa.linear_qkv.weight, "to_output_scale")
                q, k, v = qkv.view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
                if cfg.get("rope"):
                    q, k = rope(q), rope(k)
                a = sdpa(q, k, v, cfg.get("alpha_attn", 1.0)).transpose(1, 2).reshape(B, T, -1)
                return linear(a, layer.mhsa.linear_o.weight, "to_output_scale")

            def mlp(x, layer=layer):
                r = norm(x, nk)
                u = linear(r, layer.mlp.linear_1.weight, None)
                g = linear(r, layer.mlp.linear_gate.weight, None)
                return linear(silu_glu(u, g, cfg.get("alpha_ffn_act", 1.0)), layer.mlp.linear_2.weight, None)

            h = residual(h, attn, self.taus[2 * li])
            h = residual(h, mlp, self.taus[2 * li + 1])
        return linear(norm(h, nk), self.projection.weight, None, readout=True)

    def loss(self, ids, targets):
        """The mean cross-entropy of alpha_loss_softmax x logits against targets (-1: ignored)."""
        return cross_entropy(self(ids), targets, self.cfg.get("alpha_loss_softmax", 1.0))


def save_checkpoint(path, model, cfg, step=0):
    """A weights-only umup checkpoint of model (float32, checkpoint order, umup metadata), which
    umup_trainer_load_weights, umup_trainer_from_checkpoint and `train --init-from` read."""
    sd = model.state_dict()
    order = ["embedding.weight"]
    for i in range(cfg["layers"]):
        order += [f"layers.{i}.mhsa.linear_qkv.weight", f"layers.{i}.mhsa.linear_o.weight",
                  f"layers.{i}.mlp.linear_1.weight", f"layers.{i}.mlp.linear_gate.weight",
                  f"layers.{i}.mlp.linear_2.weight"]
    order.append("projection.weight")
    tensors = OrderedDict((k, sd[k].detach().cpu().numpy().astype(np.float32)) for k in order)
    write_safetensors(path, tensors, metadata_from_config(cfg, "weights", step))


# ---- batches and checks ------------------------------------------------------------------------------------

def read_batch(path):
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"UMUPBAT1":
        raise ValueError(f"{path}: not a UMUPBAT1 file")
    B, T, V, ng = struct.unpack("<4i", blob[8:24])
    o = 24
    ids = np.frombuffer(blob, "<i4", B * T, o).reshape(B, T); o += 4 * B * T
    tg = np.frombuffer(blob, "<i4", B * T, o).reshape(B, T); o += 4 * B * T
    logits = np.frombuffer(blob, "<f4", B * T * V, o).reshape(B, T, V); o += 4 * B * T * V
    (loss,) = struct.unpack("<f", blob[o:o + 4]); o += 4
    grads = np.frombuffer(blob, "<f4", ng, o) if ng else None
    return ids, tg, logits, loss, grads


def write_batch(path, ids, tg, logits, loss):
    B, T = ids.shape
    V = logits.shape[-1]
    with open(path, "wb") as f:
        f.write(b"UMUPBAT1" + struct.pack("<4i", B, T, V, 0))
        f.write(np.ascontiguousarray(ids, "<i4").tobytes())
        f.write(np.ascontiguousarray(tg, "<i4").tobytes())
        f.write(np.ascontiguousarray(logits, "<f4").tobytes())
        f.write(struct.pack("<f", loss))


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def cmd_info(args):
    tensors, meta = read_safetensors(args.ckpt)
    for k, v in meta.items():
        print(f"{k} = {v}")
    for k, v in tensors.items():
        print(f"{k} {list(v.shape)} {v.dtype}")
    return 0


def cmd_check(args):
    sd, cfg = load_state_dict(args.ckpt)
    model = UmupDecoder(cfg)
    model.load_state_dict(sd, strict=True)  # raises on a missing or unexpected key
    ids, tg, logits, loss, grads = read_batch(args.batch)
    ids_t, tg_t = torch.from_numpy(ids.copy()), torch.from_numpy(tg.copy())
    mine = model(ids_t)
    ml = cross_entropy(mine, tg_t, cfg.get("alpha_loss_softmax", 1.0))
    diff = float(np.max(np.abs(mine.detach().numpy() - logits)))
    ldiff = abs(float(ml) - loss)
    print(f"max_abs_logit_diff={diff:.3e} max_abs_logit={float(np.max(np.abs(logits))):.3f} "
          f"loss={float(ml):.7f} loss_diff={ldiff:.3e}")
    ok = diff <= args.tol and ldiff <= args.tol
    if grads is not None:
        ml.backward()
        got = np.concatenate([p.grad.detach().numpy().ravel() for p in
                              (dict(model.named_parameters())[k] for k in sd.keys())])
        worst = max(_rel(grads[o:o + n], got[o:o + n]) for o, n in _offsets(model, sd))
        print(f"grad_max_rel_l2={worst:.3e}")
        ok = ok and worst <= args.grad_tol
    return 0 if ok else 1


def _offsets(model, sd):
    o = 0
    for k in sd.keys():
        n = sd[k].numel()
        yield o, n
        o += n


def cmd_export(args):
    _, meta = read_safetensors(args.ckpt)
    cfg = config_from_metadata(meta)
    torch.manual_seed(args.seed)
    model = UmupDecoder(cfg)
    save_checkpoint(args.out, model, cfg)
    # the written file loads back strictly, bit for bit in float32
    sd, _ = load_state_dict(args.out, torch.float32)
    model32 = UmupDecoder(cfg, torch.float32)
    model32.load_state_dict(sd, strict=True)
    if args.batch:
        ids, tg, _, _, _ = read_batch(args.batch)
        model.load_state_dict({k: v.to(torch.float64) for k, v in sd.items()}, strict=True)
        with torch.no_grad():
            logits = model(torch.from_numpy(ids.copy()))
            loss = cross_entropy(logits, torch.from_numpy(tg.copy()), cfg.get("alpha_loss_softmax", 1.0))
        write_batch(args.logits, ids, tg, logits.numpy(), float(loss))
    print(f"wrote {args.out}")
    return 0


def _read_ref(path):
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:8] == b"UMUPREF1"
    (count,) = struct.unpack("<I", blob[8:12])
    o, out = 12, {}
    for _ in range(count):
        (nl,) = struct.unpack("<I", blob[o:o + 4]); o += 4
        name = blob[o:o + nl].decode(); o += nl
        dt, nd = struct.unpack("<II", blob[o:o + 8]); o += 8
        dims = struct.unpack(f"<{nd}I", blob[o:o + 4 * nd]); o += 4 * nd
        n = int(np.prod(dims)) if nd else 1
        typ = ["<f4", "<i4", "<u4", "u1"][dt]
        out[name] = np.frombuffer(blob, typ, n, o).reshape(dims); o += n * np.dtype(typ).itemsize
    return out


def cmd_reference(args):
    """The reference library's TransformerDecoder(hidden_size=64, vocab_size=256, layers=2, heads=2)
    values: its loss of decoder/ids and every parameter gradient, from this port."""
    ref = _read_ref(args.ref)
    cfg = {"param": "umup", "vocab": 256, "width": 64, "layers": 2, "heads": 2, "head_size": 32, "mlp_expansion": 4}
    model = UmupDecoder(cfg)
    sd = OrderedDict((k[len("decoder/param/"):], torch.from_numpy(v.astype(np.float64)))
                     for k, v in ref.items() if k.startswith("decoder/param/"))
    model.load_state_dict(sd, strict=True)
    ids = torch.from_numpy(ref["decoder/ids"].astype(np.int64))
    logits = model(ids)[:, :-1]  # the reference's loss: positions 0..T-2 against tokens 1..T-1
    loss = cross_entropy(logits, ids[:, 1:], 1.0)
    loss.backward()
    lrel = abs(float(loss) - float(ref["decoder/loss"])) / abs(float(ref["decoder/loss"]))
    worst = max(_rel(dict(model.named_parameters())[k].grad.numpy(), ref["decoder/grad/" + k]) for k in sd)
    print(f"loss={float(loss):.9f} ref={float(ref['decoder/loss']):.9f} rel={lrel:.3e} grad_max_rel_l2={worst:.3e}")
    return 0 if lrel <= 1e-6 and worst <= 1e-5 else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("info"); p.add_argument("ckpt"); p.set_defaults(fn=cmd_info)
    p = sub.add_parser("check"); p.add_argument("ckpt"); p.add_argument("batch")
    p.add_argument("--tol", type=float, default=1e-5); p.add_argument("--grad-tol", type=float, default=1e-4)
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("export"); p.add_argument("ckpt"); p.add_argument("out")
    p.add_argument("--seed", type=int, default=0); p.add_argument("--batch"); p.add_argument("--logits")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("reference"); p.add_argument("ref"); p.set_defaults(fn=cmd_reference)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
