"""Mixed precision, channels_last, the allocator and the JIT in the trainer."""
import json

import numpy as np
import pyro
import pytest
import torch
from test_fit import config, toy_images

from pyrovae import utils
from pyrovae.cli import main
from pyrovae.data import ArrayDataset
from pyrovae.errors import PyroVAEError
from pyrovae.models import build_vae
from pyrovae.objectives import make_objective
from pyrovae.train import TrainConfig, fit
from pyrovae.train.fit import make_optimizer, train_step, use_channels_last
from pyrovae.utils import native_bf16, network_precision, resolve_precision


# ---- settings ------------------------------------------------------------------------------------
def test_precision_and_jit_settings_are_checked(tmp_path, capsys):
    for bad, message in (({"precision": "fp16"}, "unknown precision 'fp16'"), ({"jit": "yes"}, "jit must be")):
        with pytest.raises(PyroVAEError, match=message) as e:
            TrainConfig(**bad).validate()
        assert "\n" not in str(e.value)
    with pytest.raises(SystemExit):  # argparse: the choices are listed in its usage error
        main(["train", "--precision", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err
    with pytest.raises(PyroVAEError, match="unknown precision"):
        resolve_precision("half", torch.device("cpu"))


def test_auto_is_bf16_only_where_bf16_is_native(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if native_bf16(cpu) else "fp32")
    for caps, native in (({"avx2": True, "avx512_f": True}, False), ({"avx512_bf16": True}, True),
                         ({"amx_bf16": True, "amx_tile": True}, True), ({"bf16": True}, True)):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda caps=caps: caps)
        assert native_bf16(cpu) is native and resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for supported in (True, False):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, s=supported: s)
        # a GPU has bf16 or not, auto stays fp32 there (bf16 measured slower on an H200 for these nets)
        assert native_bf16(torch.device("cuda")) is supported
        assert resolve_precision("auto", torch.device("cuda")) == "fp32"
        assert resolve_precision("bf16", torch.device("cuda")) == "bf16"


# ---- numerics ------------------------------------------------------------------------------------
def _loss(name, precision, x, arch, shape):
    pyro.clear_param_store()
    torch.manual_seed(0)
    model, guide = build_vae(shape, 10, arch=arch)
    objective = make_objective(name)
    objective.dataset_size = 10_000
    dtypes = []
    hook = guide.encoder.net[-2].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    torch.manual_seed(1)
    with network_precision(precision):
        loss = objective.differentiable_loss(model, guide, x)
    hook.remove()
    return loss, objective.terms, dtypes[0]


@pytest.mark.parametrize("name", ["beta-vae", "beta-tcvae", "dip-vae"])
def test_bf16_runs_the_networks_in_bf16_keeps_every_term_fp32_and_stays_close_to_fp32(name):
    x = (torch.rand(16, 1, 64, 64, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    loss32, terms32, net32 = _loss(name, "fp32", x, "conv", (1, 64, 64))
    loss16, terms16, net16 = _loss(name, "bf16", x, "conv", (1, 64, 64))
    assert net32 == torch.float32 and net16 == torch.bfloat16  # the encoder really ran in bf16
    assert loss16.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in terms16.values() if torch.is_tensor(v))
    assert loss16.detach() != loss32.detach()  # (else bf16 would not be in effect)
    # (measured: 2e-4 relative on the loss of this untrained net; bf16 keeps 8 bits of mantissa)
    assert float(loss16.detach()) == pytest.approx(float(loss32.detach()), rel=2e-3)
    for key in ("recon", "kl"):
        assert float(terms16[key]) == pytest.approx(float(terms32[key]), rel=1e-2), key
    loss16.backward()  # gradients reach the fp32 parameters as fp32
    model_params = [p for p in pyro.get_param_store().values()]
    assert model_params and all(p.dtype == torch.float32 for p in model_params)


@pytest.mark.parametrize("name", ["factor-vae", "aae"])
def test_bf16_runs_the_discriminator_in_bf16_too_and_keeps_its_terms_fp32(name):
    x = (torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    for precision, network in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        pyro.clear_param_store()
        torch.manual_seed(0)
        model, guide = build_vae((1, 8, 8), 4, arch="mlp")
        objective = make_objective(name, discriminator_units=16, discriminator_layers=2)
        optimizer = make_optimizer((model, guide), 1e-3)
        train_step(model, guide, objective, optimizer, x, precision=precision)  # builds the discriminator
        dtypes = []
        objective.discriminator.net[0].register_forward_hook(lambda m, i, out, seen=dtypes: seen.append(out.dtype))
        train_step(model, guide, objective, optimizer, x, precision=precision)
        assert dtypes == [network, network]  # in the VAE's loss, then in the discriminator's own step
        assert all(v.dtype == torch.float32 for v in objective.terms.values() if torch.is_tensor(v))
        assert {"discriminator_loss", "discriminator_accuracy"} <= set(objective.terms)
        assert all(p.dtype == p.grad.dtype == torch.float32 for p in objective.discriminator.parameters())


def test_outside_a_bf16_step_everything_is_fp32():
    model, guide = build_vae((1, 8, 8), 4, arch="mlp")
    x = torch.zeros(4, 1, 8, 8)
    with network_precision("bf16"):
        pass
    assert guide.representation(x).dtype == torch.float32  # evaluation codes
    with network_precision("bf16"), network_precision("fp32"):
        assert guide.representation(x).dtype == torch.float32


# ---- the trainer ---------------------------------------------------------------------------------
def _params(run):
    return {**{f"m.{k}": v for k, v in run.model.state_dict().items()},
            **{f"g.{k}": v for k, v in run.guide.state_dict().items()}}


@pytest.mark.parametrize("precision, jit", [("bf16", False), ("fp32", True), ("bf16", True)])
def test_resume_is_bit_identical_within_a_precision_and_config_records_it(tmp_path, precision, jit):
    data = ArrayDataset(toy_images())
    whole = fit(config(tmp_path / "whole", steps=60, precision=precision, jit=jit), dataset=data, progress=False)
    fit(config(tmp_path / "parts", steps=30, precision=precision, jit=jit), dataset=data, progress=False)
    parts = fit(config(tmp_path / "parts", steps=60, precision=precision, jit=jit), dataset=data, resume=True,
                progress=False)
    a, b = _params(whole), _params(parts)
    assert all(torch.equal(a[k], b[k]) for k in a)
    saved = json.loads((tmp_path / "whole" / "config.json").read_text())["config"]
    assert (saved["precision"], saved["jit"]) == (precision, jit)
    log = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert {"loss", "recon", "kl", "kl_per_dim", "beta"} <= set(log[-1]) and "batch_size" not in log[-1]


def test_jit_training_gives_the_eager_run(tmp_path):
    data = ArrayDataset(toy_images())
    eager = fit(config(tmp_path / "eager", steps=40), dataset=data, progress=False)
    jitted = fit(config(tmp_path / "jit", steps=40, jit=True), dataset=data, progress=False)
    a, b = _params(eager), _params(jitted)
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def test_config_json_records_the_precision_auto_resolved_to(tmp_path):
    fit(config(tmp_path, steps=2), dataset=ArrayDataset(toy_images()), progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())["config"]
    assert saved["precision"] == resolve_precision("auto", torch.device("cpu"))


def test_jit_with_an_adversarial_objective_is_a_one_line_cli_error(tmp_path, capsys):
    np.save(tmp_path / "d.npy", toy_images(64))
    code = main(["train", "--objective", "factor-vae", "--jit", "--dataset", str(tmp_path / "d.npy"), "--steps", "2",
                 "--batch-size", "8", "--no-evaluate", "--no-plots", "--no-progress", "--device", "cpu",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot run under --jit" in err and err.count("\n") == 1


def test_channels_last_where_it_is_faster():
    conv = build_vae((1, 64, 64), 10, arch="conv")
    assert use_channels_last(conv, torch.device("cpu"), "fp32")
    assert conv[1].encoder.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not use_channels_last(build_vae((1, 8, 8), 4, arch="mlp"), torch.device("cpu"), "fp32")
    assert not use_channels_last(build_vae((1, 64, 64), 10, arch="conv"), torch.device("cuda"), "fp32")


def test_the_allocator_is_tuned_once_and_never_over_the_users_settings(monkeypatch):
    monkeypatch.setattr(utils, "_MALLOC_TUNED", [])
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert utils.tune_malloc() is False  # the user's setting wins
    monkeypatch.setattr(utils, "_MALLOC_TUNED", [])
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    import platform

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert utils.tune_malloc() is expected
    assert utils.tune_malloc() is expected and len(utils._MALLOC_TUNED) == 1
