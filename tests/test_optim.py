"""Optimizers against their definitions (and PyTorch's implementations, where present)."""

import numpy as np
import pytest

from lecun89.config import config_from_dict
from lecun89.model import build_model
from lecun89.optim import make_optimizer


def _steps(train, n_steps=5, seed=0):
    cfg = config_from_dict({"model": {"arch": "fc", "fc_hidden": 4}, "train": train})
    net = build_model(cfg.model, seed)
    opt = make_optimizer(net, cfg.train)
    opt.lr = cfg.train.lr
    rng = np.random.default_rng(seed)
    w0 = net.flat.copy()
    grads = [rng.normal(size=net.flat.size) for _ in range(n_steps)]
    for g in grads:
        net.flat_grad[...] = g
        opt.step()
    return w0, grads, net.flat.copy()


def test_sgd_is_plain_gradient_descent():
    w0, grads, w = _steps({"optimizer": "sgd", "lr": 0.1, "schedule": "constant"})
    np.testing.assert_allclose(w, w0 - 0.1 * np.sum(grads, axis=0), rtol=1e-13, atol=1e-15)


def test_sgd_momentum_and_decay_match_torch():
    torch = pytest.importorskip("torch")
    w0, grads, w = _steps({"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01,
                           "schedule": "constant"})
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=0.01)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_adamw_matches_torch():
    torch = pytest.importorskip("torch")
    w0, grads, w = _steps({"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.01, "betas": [0.8, 0.99],
                           "adam_eps": 1e-6, "schedule": "constant"}, n_steps=20)
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = torch.optim.AdamW([p], lr=3e-3, weight_decay=0.01, betas=(0.8, 0.99), eps=1e-6)
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_adamw_without_torch_first_step():
    # After bias correction the first step is lr * g / (|g| + eps): about lr * sign(g).
    w0, grads, w = _steps({"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant"},
                          n_steps=1)
    g = grads[0]
    np.testing.assert_allclose(w, w0 - 1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=1e-15)
