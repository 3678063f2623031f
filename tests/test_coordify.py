"""coordify(): which layers it converts, that outputs are preserved exactly, its errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from coordrl import CoordConv2d, coordify


class Backbone(nn.Module):
    """A small pretrained-style net: nested blocks, padding, no-bias convs, batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 5, stride=2, padding=2)
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, padding_mode="reflect"),
        )
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(torch.relu(self.stem(x))).mean(dim=(2, 3)))


def trained_backbone() -> Backbone:
    torch.manual_seed(0)
    model = Backbone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):  # non-trivial batch-norm statistics and weights
        optimizer.zero_grad()
        model(torch.randn(8, 3, 20, 20)).square().mean().backward()
        optimizer.step()
    return model.eval()


def kinds(model: nn.Module) -> dict[str, str]:
    return {n: type(m).__name__ for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


@pytest.mark.parametrize(
    "layers,converted",
    [
        ("first", {"stem"}),
        ("all", {"stem", "block.0", "block.3"}),
        (["block.3"], {"block.3"}),
        (["block.3", "stem"], {"stem", "block.3"}),
    ],
)
@pytest.mark.parametrize("with_r", [False, True])
def test_coordify_converts_chosen_layers_and_preserves_outputs_exactly(layers, converted, with_r):
    model = trained_backbone()
    x = torch.randn(5, 3, 20, 24)
    before = model(x)
    new = coordify(model, layers, with_r=with_r)
    assert kinds(new) == {
        n: ("CoordConv2d" if n in converted else "Conv2d") for n in ("stem", "block.0", "block.3")
    }
    assert torch.equal(new(x), before)
    assert all(new.get_submodule(n).with_r is with_r for n in converted)
    assert not new.training  # the converted layers keep the model's mode


def test_coordify_adds_coordinate_weights_only():
    model = trained_backbone()
    new = coordify(model, "all", with_r=True)
    added = sum(p.numel() for p in new.parameters()) - sum(p.numel() for p in model.parameters())
    assert added == 3 * (8 * 5 * 5 + 8 * 3 * 3 + 16 * 3 * 3)
    for name in ("stem", "block.0", "block.3"):
        old, conv = model.get_submodule(name), new.get_submodule(name)
        assert torch.equal(conv.weight, old.weight)
        assert torch.count_nonzero(conv.coord_weight) == 0


def test_coordify_copies_by_default_and_shares_parameters_inplace():
    model = trained_backbone()
    copied = coordify(model)
    assert type(model.stem) is nn.Conv2d  # the original model is untouched
    assert copied.stem.weight is not model.stem.weight
    stem_weight = model.stem.weight
    same = coordify(model, inplace=True)
    assert same is model and isinstance(model.stem, CoordConv2d)
    assert model.stem.weight is stem_weight  # an optimizer holding it keeps working


def test_coordified_model_learns_its_coordinate_weights():
    model = coordify(trained_backbone().train())
    model(torch.randn(4, 3, 16, 16)).square().mean().backward()
    assert model.stem.coord_weight.grad.abs().sum() > 0


def test_coordify_replaces_a_conv_registered_twice_under_both_names():
    shared = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    new = coordify(model, "all")
    assert isinstance(new[0], CoordConv2d) and new[0] is new[2]


def test_coordify_a_bare_conv():
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 7, 7)
    new = coordify(conv)
    assert isinstance(new, CoordConv2d) and torch.equal(new(x), conv(x))


def test_coordify_all_skips_layers_already_coordconv():
    model = coordify(trained_backbone())
    again = coordify(model, "all")
    assert set(kinds(again).values()) == {"CoordConv2d"}
    assert torch.equal(again.stem.coord_weight, model.stem.coord_weight)


def test_coordify_errors_name_what_is_available():
    model = trained_backbone()
    with pytest.raises(ValueError, match=r"\['nope'\].*'stem', 'block.0', 'block.3'"):
        coordify(model, ["nope"])
    with pytest.raises(ValueError, match="'first', 'all' or a list"):
        coordify(model, "last")
    with pytest.raises(ValueError, match=r"no nn\.Conv2d"):
        coordify(nn.Linear(3, 3))


def test_coordify_refuses_conv_subclasses_it_would_break():
    class WeightStandardisedConv(nn.Conv2d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w = (self.weight - self.weight.mean()) / self.weight.std()
            return self._conv_forward(x, w, self.bias)

    model = nn.Sequential(WeightStandardisedConv(3, 4, 3))
    with pytest.raises(ValueError, match="'0' is a WeightStandardisedConv, not a plain"):
        coordify(model)
    with pytest.raises(ValueError, match="is a CoordConv2d"):
        coordify(coordify(nn.Sequential(nn.Conv2d(3, 4, 3))), ["0"])
