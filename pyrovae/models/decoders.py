"""Decoders: latent code z -> parameters of p(x | z).

Every decoder accepts any number of leading batch dimensions (``[..., D]``) so that the model works
under a vectorised particle plate (IWAE, ``vectorize_particles=True``).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class _ConvTranspose2dFunction(torch.autograd.Function):
    """``F.conv_transpose2d`` whose weight gradient is computed as the weight gradient of the adjoint
    convolution: ``conv_transpose2d(., W)`` is the adjoint of ``conv2d(., W)``, so
    <conv_transpose2d(x, W), g> = <x, conv2d(g, W)>, and dL/dW is conv2d's weight gradient at input g
    and output gradient x. The values are the same (tests/models/test_decoders.py); the time is not:
    on a CPU, oneDNN's transposed-convolution weight gradient is several times slower than the plain
    convolution's (README, Benchmarks: the standard conv VAE's step)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, groups, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, weight, None, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                x, grad, weight, None, stride, padding, dilation, False, [0, 0], groups, [False, True, False])[1]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None, None


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters and state dict) that, on a CPU, computes its weight
    gradient through the faster plain-convolution kernel (:class:`_ConvTranspose2dFunction`); under
    autocast it casts as autocast would. Elsewhere, or with ``output_size``, it is ``nn.ConvTranspose2d``."""

    def forward(self, x, output_size=None):
        if x.device.type != "cpu" or x.dim() != 4 or output_size is not None or self.padding_mode != "zeros":
            return super().forward(x, output_size)
        tensors = (x, self.weight, self.bias)
        if torch.is_autocast_enabled("cpu"):
            dtype = torch.get_autocast_dtype("cpu")
            tensors = tuple(None if t is None else t.to(dtype) for t in tensors)
        with torch.autocast("cpu", enabled=False):
            return _ConvTranspose2dFunction.apply(*tensors, self.stride, self.padding, self.output_padding,
                                                  self.groups, self.dilation)


class ConvDecoder(nn.Module):
    """The standard decoder of the disentanglement literature for 64x64 images (Higgins et al. 2017;
    Locatello et al. 2019): FC 256, FC 64*4*4, then four 4x4 stride-2 transposed convolutions
    (64, 32, 32, channels)."""

    def __init__(self, latent_dim, out_shape=(1, 64, 64), out_mult=1):
        super().__init__()
        channels, height, width = out_shape
        if (height, width) != (64, 64):
            raise ValueError(f"ConvDecoder makes 64x64 images, not {height}x{width}: use MLPDecoder")
        self.out_shape = tuple(out_shape)
        self.out_mult = out_mult  # >1 when the likelihood needs several outputs per pixel
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(),
            nn.Linear(256, 64 * 4 * 4), nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            ConvTranspose2d(32, channels * out_mult, 4, 2, 1),
        )

    def forward(self, z):
        lead = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).view(-1, 64, 4, 4)
        out = self.deconv(h)
        return out.reshape(*lead, *out.shape[1:])


class MLPDecoder(nn.Module):
    """A multilayer perceptron for small inputs (flat vectors or small images)."""

    def __init__(self, latent_dim, out_shape, hidden=(256, 256), out_mult=1):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.out_mult = out_mult
        channels, *rest = self.out_shape
        self._view = (channels * out_mult, *rest)
        layers, width = [], latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, math.prod(self._view)))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z).reshape(*z.shape[:-1], *self._view)
