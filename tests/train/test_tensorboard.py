"""TensorBoard logging (``tensorboard=True``): the terms of log.jsonl as scalars, images at each
checkpoint, the right steps after a resume, and a one-line error without the extra."""
import importlib
import json
import sys

import pytest
import torch
from test_fit import config, toy_images

from pyrovae.data import ArrayDataset
from pyrovae.errors import MissingExtra
from pyrovae.train import fit

fit_module = importlib.import_module("pyrovae.train.fit")  # pyrovae.train.fit is also the function


def test_terms_and_images_are_logged_and_a_resume_continues_at_its_step(tmp_path, monkeypatch):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    data = ArrayDataset(toy_images(64))
    cfg = config(tmp_path / "run", steps=30, log_every=5, checkpoint_every=10, tensorboard=True)
    train_step = fit_module.train_step

    def killed_after_step_25(model, guide, objective, *args, **kw):  # logged step 25, saved step 20
        if objective.step == 25:
            raise RuntimeError("killed")
        return train_step(model, guide, objective, *args, **kw)

    monkeypatch.setattr(fit_module, "train_step", killed_after_step_25)
    with pytest.raises(RuntimeError, match="killed"):
        fit(cfg, dataset=data, progress=False)
    monkeypatch.undo()
    run = fit(cfg, dataset=data, resume=True, progress=False)

    events = accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"),
                                          size_guidance={"scalars": 0, "images": 0}).Reload()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert set(events.Tags()["scalars"]) == {"loss", "recon", "kl", "kl_weighted", "beta", "kl_per_dim/0",
                                             "kl_per_dim/1"}
    for tag in events.Tags()["scalars"]:
        key, _, i = tag.partition("/")
        # step 25 once: the stopped start's record after its checkpoint is purged, the redone one kept
        assert [e.step for e in events.Scalars(tag)] == [r["step"] for r in log] == [5, 10, 15, 20, 25, 30]
        assert [e.value for e in events.Scalars(tag)] == pytest.approx([r[key][int(i)] if i else r[key] for r in log])
    assert set(events.Tags()["images"]) == {"reconstructions", "traversals"}
    for tag in ("reconstructions", "traversals"):
        assert [e.step for e in events.Images(tag)] == [10, 20, 30]
    assert events.Images("traversals")[-1].height == 1 + 2 * 9  # a row of 8x8 images per latent

    # the images draw nothing from the training RNG: the run matches one without TensorBoard
    plain = fit(config(tmp_path / "plain", steps=30, log_every=5, checkpoint_every=10), dataset=data, progress=False)
    for key, value in plain.guide.state_dict().items():
        assert torch.equal(value, run.guide.state_dict()[key]), key


def test_without_the_extra_a_one_line_error_names_it_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(MissingExtra) as e:
        fit(config(tmp_path / "run", tensorboard=True), dataset=ArrayDataset(toy_images(64)), progress=False)
    assert "pip install 'pyrovae[tensorboard]'" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()
