"""Transfer of trained weights between networks: plans from the analysed specs (torch-free),
the copy itself (checked against torch), and `archc transfer` on the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.transfer import RECIPES, TransferError, plan_transfer
from tests.conftest import ROOT, SPECS, torchvision_fixture

TINY = ROOT / "tests" / "transfer_specs" / "tiny_vgg.yaml"

# VGG paper, Table 1: the first four conv layers of column A are conv3-64, conv3-128,
# conv3-256, conv3-256 (each 3x3 over the previous layer's maps), and the three FC layers
# are FC-4096 (over the 7x7x512 volume), FC-4096 and FC-1000.
VGG_A_FIRST_CONVS = [(64, 3, 3, 3), (128, 64, 3, 3), (256, 128, 3, 3), (256, 256, 3, 3)]
VGG_FCS = [(4096, 7 * 7 * 512), (4096, 4096), (1000, 4096)]


def _conv_weights(plan):
    return [
        c.shape
        for c in plan.copies
        if c.target.startswith("features") and c.target.endswith("weight")
    ]


# --- plans from the specs alone --------------------------------------------------------


@pytest.mark.parametrize("deeper", ["D", "E"])
def test_vgg_plan_copies_the_first_four_convs_and_three_fcs_of_a(deeper):
    source = archc.load(SPECS / "vgg.yaml", "A")
    target = archc.load(SPECS / "vgg.yaml", deeper)
    plan = plan_transfer(source, target, "vgg")
    plan.check()
    # In both D and E the stages open with two convolutions of 64 and 128 maps, so A's
    # conv (stage s, position p) lands on the layer at the same place of the deeper column:
    # features.0 (stage 1), features.5 (stage 2), features.10 and .12 (stage 3).
    assert plan.layers == [
        ("features.0", "features.0"),
        ("features.3", "features.5"),
        ("features.6", "features.10"),
        ("features.8", "features.12"),
        ("classifier.0", "classifier.0"),
        ("classifier.3", "classifier.3"),
        ("classifier.6", "classifier.6"),
    ]
    assert _conv_weights(plan) == VGG_A_FIRST_CONVS
    assert [
        c.shape
        for c in plan.copies
        if c.target.startswith("classifier") and c.target.endswith("weight")
    ] == VGG_FCS
    assert len(plan.copies) == 14  # a weight and a bias per copied layer
    # Every other weight layer of the deeper column starts fresh: D has 16 weight layers,
    # E 19 (the columns' names in the paper), minus the 7 copied.
    fresh_layers = {key.rsplit(".", 1)[0] for key, _ in plan.initialised}
    assert len(fresh_layers) == {"D": 16, "E": 19}[deeper] - 7
    # A's other conv layers (8 weight layers in all, 4 copied) are left behind.
    assert {key.rsplit(".", 1)[0] for key, _ in plan.skipped} == {
        "features.11",
        "features.13",
        "features.16",
        "features.18",
    }


@pytest.mark.parametrize("deeper, model", [("D", "vgg16"), ("E", "vgg19")])
def test_vgg_plan_uses_torchvisions_own_keys_and_shapes(deeper, model):
    """The plan's names and shapes are those of torchvision's vgg11 and vgg16/vgg19."""

    def tensors(name):
        return {key: tuple(shape) for key, shape, _ in torchvision_fixture(name)["state_dict"]}

    source, target = tensors("vgg11"), tensors(model)
    plan = plan_transfer(
        archc.load(SPECS / "vgg.yaml", "A"), archc.load(SPECS / "vgg.yaml", deeper), "vgg"
    )
    for copy in plan.copies:
        assert source[copy.source] == copy.shape == target[copy.target], copy
    assert {c.target for c in plan.copies} | {k for k, _ in plan.initialised} == set(target)
    assert {c.source for c in plan.copies} | {k for k, _ in plan.skipped} == set(source)


def test_plain_order_would_pair_layers_of_different_shapes():
    """Why the VGG plan matches by stage: A's second conv and D's second conv differ."""
    a = [n for n in archc.load(SPECS / "vgg.yaml", "A").graph.layers() if n.layer.family == "conv"]
    d = [n for n in archc.load(SPECS / "vgg.yaml", "D").graph.layers() if n.layer.family == "conv"]
    assert a[1].tensors[0].shape == (128, 64, 3, 3)  # conv3-128 after the first pool
    assert d[1].tensors[0].shape == (64, 64, 3, 3)  # D's second conv3-64


def test_names_plan_refuses_a_new_output_size_and_head_plan_replaces_it():
    source = archc.load(TINY, "A")
    target = archc.load(TINY, "A", params={"num_classes": 5})
    plan = plan_transfer(source, target, "names")
    with pytest.raises(TransferError) as info:
        plan.check()
    message = str(info.value)
    assert "classifier.6.weight [10, 64] -> classifier.6.weight [5, 64]" in message
    assert "classifier.6.bias [10] -> classifier.6.bias [5]" in message
    head = plan_transfer(source, target, "head")
    head.check()
    assert [key for key, _ in head.initialised] == ["classifier.6.weight", "classifier.6.bias"]
    assert len(head.copies) == 2 * 8 + 2 * 2  # 8 convs and 2 hidden FCs of column A


def test_names_plan_names_every_mismatch_between_columns():
    plan = plan_transfer(archc.load(TINY, "D"), archc.load(TINY, "E"), "names")
    with pytest.raises(TransferError) as info:
        plan.check()
    # D's features.19 is the second conv3-32 of stage 4 (over 32 maps); E, with one more
    # conv in stage 3, has its first conv3-32 (over stage 3's 16 maps) at that index.
    assert "features.19.weight [32, 32, 3, 3] -> features.19.weight [32, 16, 3, 3]" in str(
        info.value
    )
    assert "head" not in str(info.value)


def test_a_refusal_lists_the_first_mismatches_and_a_count():
    """A refusal was one ~4 KB line naming every mismatch and ending with a hint about the
    output layer even where every stage differs; now it lists five, counts the rest, and
    gives the hint only where replacing the output layer is the way out."""
    resnet = SPECS / "resnet.yaml"
    plan = plan_transfer(archc.load(resnet, "34"), archc.load(resnet, "50"), "names")
    with pytest.raises(TransferError) as info:
        plan.check()
    lines = str(info.value).splitlines()
    # ResNet-34's basic blocks and ResNet-50's bottlenecks share names, not shapes: the
    # first to differ is layer1.0.conv1 (3x3 in one, 1x1 in the other, as in torchvision).
    shapes = {
        name: {key: shape for key, shape, _ in torchvision_fixture(name)["state_dict"]}
        for name in ("resnet34", "resnet50")
    }
    key = "layer1.0.conv1.weight"
    first = f"{key} {shapes['resnet34'][key]} -> {key} {shapes['resnet50'][key]}"
    assert lines[1].strip() == first
    count = len(plan.mismatches)
    assert f"{count} tensor shape(s) differ" in lines[0]
    assert lines[6].strip() == f"... and {count - 5} more"
    assert len(lines) == 7 and max(len(line) for line in lines) < 200
    assert "head" not in str(info.value)


def test_init_option_initialises_named_modules_and_refuses_unknown_ones():
    net = archc.load(TINY, "A")
    plan = plan_transfer(net, net, "names", init=["classifier"])
    assert {key.rsplit(".", 1)[0] for key, _ in plan.initialised} == {
        "classifier.0",
        "classifier.3",
        "classifier.6",
    }
    with pytest.raises(TransferError, match="no module 'clasifier'"):
        plan_transfer(net, net, "names", init=["clasifier"])


def test_batchnorm_buffers_travel_with_their_layer():
    net = archc.load(TINY, "D-BN")
    plan = plan_transfer(net, net, "names")
    copied = {c.target for c in plan.copies}
    assert {
        "features.1.running_mean",
        "features.1.running_var",
        "features.1.num_batches_tracked",
    } <= copied
    assert not plan.initialised


def test_vgg_plan_needs_the_layers_it_names():
    with pytest.raises(
        TransferError,
        match="lenet5#modern has no conv layer #1 at input "
        "resolution 16x16 to take features.3 of tiny_vgg#A",
    ):
        plan_transfer(archc.load(TINY, "A"), archc.load(SPECS / "lenet5.yaml", "modern"), "vgg")


def test_recipes_are_listed_in_the_cli_choices():
    result = CliRunner().invoke(main, ["transfer", "--help"])
    for name in RECIPES:
        assert name in result.output


# --- copying weights (torch) -----------------------------------------------------------

torch = pytest.importorskip("torch")


def _random_model(spec, variant, seed, params=None):
    from archc.backends.pytorch import compile_module

    torch.manual_seed(seed)
    model = compile_module(archc.load(spec, variant, params).graph)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.normal_()
    return model


def test_transfer_copies_exactly_the_planned_tensors():
    source = _random_model(TINY, "A", 1)
    target = _random_model(TINY, "D", 2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    plan = plan_transfer(archc.load(TINY, "A"), archc.load(TINY, "D"), "vgg")
    archc.transfer(source, target, plan)
    after = target.state_dict()
    pairs = {c.target: c.source for c in plan.copies}
    assert sorted(pairs) == sorted(
        f"{layer}.{t}"
        for layer in (
            "features.0",
            "features.5",
            "features.10",
            "features.12",
            "classifier.0",
            "classifier.3",
            "classifier.6",
        )
        for t in ("weight", "bias")
    )
    for key, value in after.items():
        if key in pairs:
            assert torch.equal(value, source.state_dict()[pairs[key]]), key
        else:
            assert torch.equal(value, before[key]), key
    # The state_dict keys archc planned with are the module's own.
    assert set(plan.target_keys) == set(after)
    assert target(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_transfer_refuses_a_state_dict_of_another_network():
    plan = plan_transfer(archc.load(TINY, "A"), archc.load(TINY, "D"), "vgg")
    lenet = _random_model(SPECS / "lenet5.yaml", "modern", 0)
    target = _random_model(TINY, "D", 2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(TransferError, match="not those of tiny_vgg#A"):
        archc.transfer(lenet.state_dict(), target, plan)
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())


# --- archc transfer ----------------------------------------------------------------------


@pytest.fixture
def checkpoint_a(tmp_path):
    path = tmp_path / "a.pt"
    torch.save(_random_model(TINY, "A", 3).state_dict(), path)
    return path


def _run(*args):
    return CliRunner().invoke(main, ["transfer", *map(str, args)])


def test_cli_vgg_plan_writes_a_checkpoint_the_target_loads(tmp_path, checkpoint_a):
    out = tmp_path / "d.pt"
    result = _run(
        checkpoint_a, "--from", f"{TINY}#A", "--to", f"{TINY}#D", "--plan", "vgg", "-o", out
    )
    assert result.exit_code == 0, result.output
    assert "copied 14 tensors" in result.output
    assert "features.12.weight" in result.output and "initialised" in result.output
    state = torch.load(out, weights_only=True)
    source = torch.load(checkpoint_a, weights_only=True)
    assert torch.equal(state["features.12.weight"], source["features.8.weight"])
    assert torch.equal(state["classifier.6.bias"], source["classifier.6.bias"])
    model = _random_model(TINY, "D", 0)
    model.load_state_dict(state)  # strict: exactly the target's keys and shapes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "d.pt"]  # no temp files


def test_cli_refuses_shape_mismatch_without_writing(tmp_path, checkpoint_a):
    out = tmp_path / "out.pt"
    result = _run(
        checkpoint_a,
        "--from",
        f"{TINY}#A",
        "--to",
        f"{TINY}#A",
        "--set",
        "num_classes=5",
        "-o",
        out,
    )
    assert result.exit_code == 1
    assert "classifier.6.weight [10, 64] -> classifier.6.weight [5, 64]" in result.output
    assert "use the 'head' plan or --init classifier.6" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_head_plan_with_new_num_classes(tmp_path, checkpoint_a):
    out = tmp_path / "out.pt"
    result = _run(
        checkpoint_a,
        "--from",
        f"{TINY}#A",
        "--to",
        f"{TINY}#A",
        "--set",
        "num_classes=5",
        "--plan",
        "head",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    state = torch.load(out, weights_only=True)
    source = torch.load(checkpoint_a, weights_only=True)
    assert state["classifier.6.weight"].shape == (5, 64)
    assert all(
        torch.equal(state[k], source[k]) for k in source if not k.startswith("classifier.6.")
    )


def test_cli_refuses_a_checkpoint_of_another_variant(tmp_path, checkpoint_a):
    out = tmp_path / "out.pt"
    result = _run(checkpoint_a, "--from", f"{TINY}#D", "--to", f"{TINY}#D", "-o", out)
    assert result.exit_code == 1
    assert "not those of tiny_vgg#D" in result.output
    assert not out.exists()


def test_cli_reports_unreadable_checkpoints_and_unknown_params(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    result = _run(bad, "--from", f"{TINY}#A", "--to", f"{TINY}#A", "-o", tmp_path / "o.pt")
    assert result.exit_code == 1 and "cannot read checkpoint" in result.output
    result = _run(
        bad,
        "--from",
        f"{TINY}#A",
        "--to",
        f"{TINY}#A",
        "--set",
        "num_clases=5",
        "-o",
        tmp_path / "o.pt",
    )
    assert result.exit_code == 1
    assert "error[E-UNKNOWN-PARAM]" in result.output and "num_classes" in result.output
    assert not (tmp_path / "o.pt").exists()


def test_cli_refuses_a_plan_that_copies_nothing(tmp_path, checkpoint_a):
    out = tmp_path / "out.pt"
    result = _run(
        checkpoint_a, "--from", f"{TINY}#A", "--to", f"{SPECS / 'lenet5.yaml'}#modern", "-o", out
    )
    assert result.exit_code == 1
    assert "plan 'names' copies nothing from tiny_vgg#A into lenet5#modern" in result.output
    assert not out.exists()


@pytest.mark.slow
def test_full_size_vgg_a_into_d():
    """The paper's own networks at 224x224 (133M and 138M parameters): slow, not default."""
    from archc.backends.pytorch import compile_module

    a_net, d_net = archc.load(SPECS / "vgg.yaml", "A"), archc.load(SPECS / "vgg.yaml", "D")
    torch.manual_seed(0)
    source, target = compile_module(a_net.graph), compile_module(d_net.graph)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    plan = archc.transfer(source, target, plan_transfer(a_net, d_net, "vgg"))
    state, pairs = target.state_dict(), {c.target: c.source for c in plan.copies}
    for key, value in state.items():
        expected = source.state_dict()[pairs[key]] if key in pairs else before[key]
        assert torch.equal(value, expected), key
    assert plan.copied_params() == sum(a * b * c * d + a for a, b, c, d in VGG_A_FIRST_CONVS) + sum(
        o * i + o for o, i in VGG_FCS
    )
