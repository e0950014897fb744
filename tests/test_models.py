import pytest
import torch

from personseg import UNet, create_model, list_models


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_seed_unet_parameter_counts_match_the_readme():
    # Counted by hand from the architecture (milesial-style U-Net with BN, bias-free 3x3 convs):
    # the README quotes 17.26M (bilinear) and 31.04M (transposed convolutions).
    assert n_params(UNet(3, 1, bilinear=True)) == 17_262_977
    assert n_params(UNet(3, 1, bilinear=False)) == 31_037_633
    assert n_params(create_model("unet")) == 17_262_977
    assert n_params(create_model("unet-small")) == 4_318_401
    assert n_params(create_model("unet-efficientnet-lite0")) == 3_059_089  # the bundled model's


def test_seed_unet_structure():
    m = UNet()
    assert [
        m.inc[0].out_channels,
        m.down1[1][0].out_channels,
        m.down2[1][0].out_channels,
        m.down3[1][0].out_channels,
    ] == [64, 128, 256, 512]
    assert isinstance(m.up1.up, torch.nn.Upsample)
    assert isinstance(UNet(bilinear=False).up1.up, torch.nn.ConvTranspose2d)
    assert m.outc.kernel_size == (1, 1)


TINY_KWARGS = {
    "unet-efficientnet-lite0": {"decoder_channels": (16, 8, 8, 8)},
    "unet-efficientnet-lite0-s16": {"decoder_channels": (8, 8, 8)},
    "fastseg": {"head_channels": 16},
}


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_trains_and_keeps_shape(name):
    torch.manual_seed(0)
    model = create_model(name, **TINY_KWARGS.get(name, {"base_channels": 8}))
    x = torch.randn(2, 3, 64, 96)
    y = model(x)
    assert y.shape == (2, 1, 64, 96)
    assert torch.isfinite(y).all()
    y.mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not no_grad, f"parameters without gradient: {no_grad}"


@pytest.mark.parametrize("bilinear", [True, False])
def test_sizes_not_divisible_by_16_are_refused_with_the_size_to_use(bilinear):
    model = UNet(base_channels=4, bilinear=bilinear).eval()
    with pytest.raises(ValueError, match="112x64"):
        model(torch.randn(1, 3, 100, 50))


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match="unet-small"):
        create_model("resnet-9000")


def test_bad_model_kwargs_are_a_value_error():
    with pytest.raises(ValueError, match="bad arguments"):
        create_model("unet", no_such_arg=1)


def test_the_fast_network_is_the_encoder_cut_at_stride_16():
    model = create_model("unet-efficientnet-lite0-s16").eval()
    assert len(model.encoder._blocks) == 11 and model.encoder.feature_channels[-1] == 112
    assert model(torch.zeros(1, 3, 48, 80)).shape == (1, 1, 48, 80)
    with pytest.raises(ValueError, match="64x96"):
        model(torch.zeros(1, 3, 50, 90))
    assert sum(p.numel() for p in model.parameters()) == 717_009  # the README's count
