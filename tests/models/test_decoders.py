"""The decoders' transposed convolution: the same function and gradients as ``nn.ConvTranspose2d``."""
import pytest
import torch
from torch import nn

from pyrovae.models.decoders import ConvDecoder, ConvTranspose2d


def _pair(in_ch, out_ch, kernel, stride, padding, output_padding=0, groups=1, dilation=1, bias=True):
    torch.manual_seed(0)
    ours = ConvTranspose2d(in_ch, out_ch, kernel, stride, padding, output_padding, groups, bias, dilation)
    reference = nn.ConvTranspose2d(in_ch, out_ch, kernel, stride, padding, output_padding, groups, bias, dilation)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


@pytest.mark.parametrize("conf", [
    dict(in_ch=3, out_ch=2, kernel=4, stride=2, padding=1),  # the decoder's layers
    dict(in_ch=4, out_ch=6, kernel=3, stride=2, padding=1, output_padding=1, groups=2, dilation=1),
    dict(in_ch=2, out_ch=3, kernel=3, stride=1, padding=2, dilation=2, bias=False),
])
def test_gradients_match_the_adjoint_convolution_in_float64(conf):
    """gradcheck against finite differences, and the same values as nn.ConvTranspose2d."""
    ours, reference = _pair(**conf)
    ours, reference = ours.double(), reference.double()
    x = torch.randn(2, conf["in_ch"], 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *p: ours(x), (x, *ours.parameters()))
    grad = torch.randn_like(reference(x))
    got = torch.autograd.grad(ours(x), (x, *ours.parameters()), grad)
    want = torch.autograd.grad(reference(x), (x, *reference.parameters()), grad)
    torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_bf16_autocast_casts_as_nn_does(memory_format):
    """Under CPU bf16 autocast the output is bf16, and the gradients reach the fp32 parameters, as
    with nn.ConvTranspose2d (same kernels, so equal up to bf16 rounding of the bias sum)."""
    ours, reference = _pair(8, 4, 4, 2, 1)
    ours, reference = ours.to(memory_format=memory_format), reference.to(memory_format=memory_format)
    x = torch.randn(3, 8, 6, 6).to(memory_format=memory_format).requires_grad_()
    outs, grads = [], []
    for layer in (ours, reference):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = layer(x)
        outs.append(out)
        grads.append(torch.autograd.grad(out.float().square().sum(), (x, *layer.parameters())))
    assert outs[0].dtype == torch.bfloat16
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    for g, w, p in zip(grads[0], grads[1], (x, *ours.parameters())):
        assert g.dtype == p.dtype == torch.float32
        torch.testing.assert_close(g, w, rtol=2e-2, atol=2e-2)


def test_conv_decoder_keeps_the_standard_state_dict():
    """Checkpoints of the nn.ConvTranspose2d decoder load unchanged."""
    decoder = ConvDecoder(10)
    assert all(type(m) is ConvTranspose2d for m in decoder.deconv if isinstance(m, nn.ConvTranspose2d))
    names = {k: v.shape for k, v in decoder.state_dict().items()}
    assert names["deconv.6.weight"] == (32, 1, 4, 4) and names["deconv.0.bias"] == (64,)
    z = torch.randn(2, 3, 10)  # leading batch dimensions, as under a particle plate
    assert decoder(z).shape == (2, 3, 1, 64, 64)
