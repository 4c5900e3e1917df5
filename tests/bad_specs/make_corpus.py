# ruff: noqa: E501  (the cases are YAML written out on one line each)
"""Writes the bad-spec corpus: each case marks its fault by hand with @@ (removed on writing;
its line and column become the header's expectation). Usage: python make_corpus.py tests/bad_specs"""

import sys
from pathlib import Path

OUT = Path(sys.argv[1])
HEAD = "network: t\ninput: [3, 32, 32]\nlayers:\n"

CASES = []


def case(name, what, body, code, words, args=None, extra=None):
    CASES.append((name, what, body, code, words, args, extra))


def chain(*lines):
    return HEAD + "".join(f"  {line}\n" for line in lines)


# ---------------------------------------------------------------- YAML syntax
case(
    "yaml_unclosed_flow_sequence",
    "a flow sequence that never closes",
    "network: t\ninput: [3, 32, 32\nlayers@@: [relu]\n",
    "E-YAML",
    ["invalid YAML", "flow sequence that starts at line 4, column 8"],
)
case(
    "yaml_unclosed_quote",
    "a quoted string that never ends",
    'network: "t\ninput: [3, 32, 32]\nlayers: [relu]\n@@',
    "E-YAML",
    ["invalid YAML", "quoted scalar"],
)
case(
    "yaml_mapping_in_scalar",
    "a key: value where only a scalar may be",
    "network: t\ninput: [3, 32, 32]\nlayers:\n  - relu\nbad: a@@: b\n",
    "E-YAML",
    ["invalid YAML", "mapping values are not allowed"],
)
case(
    "yaml_bad_indentation",
    "a key indented under a scalar",
    "network: t\n  input@@: [3, 32, 32]\nlayers: [relu]\n",
    "E-YAML",
    ["invalid YAML", "mapping values"],
)
case(
    "yaml_tab_indentation",
    "a tab used for indentation",
    "network: t\ninput: [3, 32, 32]\nlayers:\n@@\t- relu\n",
    "E-YAML-TAB",
    ["tab", "spaces"],
)
case(
    "yaml_tab_in_layer_mapping",
    "a tab before a nested key",
    "network: t\ninput: [3, 32, 32]\nlayers:\n  - type: conv\n@@\t out: 8\n",
    "E-YAML-TAB",
    ["tab"],
)
case(
    "yaml_undefined_alias",
    "an alias with no anchor",
    "network: t\ninput: @@*size\nlayers: [relu]\n",
    "E-YAML",
    ["undefined alias", "size"],
)
case(
    "yaml_two_documents",
    "two YAML documents in one spec",
    "network: t\ninput: [3, 32, 32]\nlayers: [relu]\n@@---\nnetwork: u\n",
    "E-YAML",
    ["single document"],
)
case(
    "yaml_duplicate_top_key",
    "the key input given twice",
    "network: t\ninput: [3, 32, 32]\n@@input: [3, 64, 64]\nlayers: [relu]\n",
    "E-YAML-DUPLICATE-KEY",
    ["duplicate key 'input'", "first at line"],
)
case(
    "yaml_duplicate_layer_key",
    "a layer field given twice",
    chain("- {type: conv, out: 8, kernel: 3, @@out: 16}"),
    "E-YAML-DUPLICATE-KEY",
    ["duplicate key 'out'"],
)
case(
    "yaml_python_tag",
    "PyYAML's python/object/apply tag (code execution in unsafe loaders)",
    'network: t\ninput: [3, 32, 32]\ndescription: @@!!python/object/apply:os.system ["touch pwned"]\n'
    "layers: [relu]\n",
    "E-YAML-TAG",
    ["python/object/apply", "not allowed"],
)
case(
    "yaml_python_name_tag",
    "a python/name tag",
    "network: @@!!python/name:os.system\ninput: [3, 32, 32]\nlayers: [relu]\n",
    "E-YAML-TAG",
    ["python/name", "not allowed"],
)
case(
    "yaml_custom_tag",
    "an application-specific tag",
    "network: t\ninput: [3, 32, 32]\nlayers:\n  - @@!layer relu\n",
    "E-YAML-TAG",
    ["!layer", "not allowed"],
)
case(
    "yaml_set_tag",
    "the !!set tag (not plain data)",
    "network: t\ninput: [3, 32, 32]\nparams: @@!!set {a, b}\nlayers: [relu]\n",
    "E-YAML-TAG",
    ["set"],
)
case(
    "yaml_complex_key",
    "a list used as a mapping key",
    "network: t\ninput: [3, 32, 32]\n? @@[a, b]\n: 1\nlayers: [relu]\n",
    "E-YAML-KEY",
    ["keys"],
)
case(
    "yaml_stray_colon",
    "a line that starts with a colon",
    "network: t\ninput: [3, 32, 32]\n@@: 1\nlayers: [relu]\n",
    "E-YAML",
    ["invalid YAML", "':'"],
)

# ---------------------------------------------------------------- file level
case(
    "not_mapping_list",
    "a spec that is a list",
    "@@- network: t\n- input: [3, 32, 32]\n",
    "E-NOT-MAPPING",
    ["must be a mapping", "list"],
)
case(
    "not_mapping_scalar",
    "a spec that is one word",
    "@@alexnet\n",
    "E-NOT-MAPPING",
    ["must be a mapping", "alexnet"],
)
case(
    "not_mapping_null",
    "a spec that is null",
    "@@~\n",
    "E-NOT-MAPPING",
    ["must be a mapping", "null"],
)
case(
    "only_comments",
    "a file of comments only (empty)",
    "# nothing here\n",
    "E-EMPTY-FILE",
    ["empty"],
    extra={"at": (1, 1)},
)

# ---------------------------------------------------------------- top level fields
case(
    "missing_layers",
    "no layers key",
    "@@network: t\ninput: [3, 32, 32]\n",
    "E-MISSING-FIELD",
    ["missing required field 'layers'"],
)
case(
    "missing_input",
    "no input key",
    "@@network: t\nlayers: [relu]\n",
    "E-MISSING-FIELD",
    ["missing required field 'input'"],
)
case(
    "missing_network",
    "no network key",
    "@@input: [3, 32, 32]\nlayers: [relu]\n",
    "E-MISSING-FIELD",
    ["missing required field 'network'"],
)
case(
    "unknown_top_field",
    "a misspelled top-level key",
    "network: t\ninput: [3, 32, 32]\nlayers: [relu]\n@@descripton: x\n",
    "E-UNKNOWN-FIELD",
    ["unknown field 'descripton'", "did you mean 'description'"],
)
case(
    "network_is_list",
    "network given as a list",
    "network: @@[a, b]\ninput: [3, 32, 32]\nlayers: [relu]\n",
    "E-TYPE",
    ["network"],
)
case(
    "input_is_number",
    "input given as one number",
    "network: t\ninput: @@224\nlayers: [relu]\n",
    "E-TYPE",
    ["input", "224"],
)
case(
    "input_two_sizes",
    "an input with two sizes",
    "network: t\ninput: @@[3, 32]\nlayers: [relu]\n",
    "E-INPUT",
    ["[channels, height, width]", "[3, 32]"],
)
case(
    "input_zero",
    "an input size of zero",
    "network: t\ninput: [3, @@0, 32]\nlayers: [relu]\n",
    "E-INPUT",
    ["positive integers", "0"],
)
case(
    "input_negative",
    "a negative input size",
    "network: t\ninput: [@@-3, 32, 32]\nlayers: [relu]\n",
    "E-INPUT",
    ["positive integers", "-3"],
)
case(
    "input_float",
    "a fractional input size",
    "network: t\ninput: [3, @@32.5, 32]\nlayers: [relu]\n",
    "E-TYPE",
    ["input"],
)
case(
    "layers_is_string",
    "layers given as one word",
    "network: t\ninput: [3, 32, 32]\nlayers: @@conv\n",
    "E-TYPE",
    ["layers"],
)
case(
    "empty_network",
    "an empty layers list",
    "network: t\ninput: [3, 32, 32]\nlayers: @@[]\n",
    "E-EMPTY-NETWORK",
    ["no layers"],
)
case(
    "empty_network_all_left_out",
    "every entry switched off by when",
    "network: t\ninput: [3, 32, 32]\nlayers:\n  @@- {type: relu, when: false}\n",
    "E-EMPTY-NETWORK",
    ["every entry was left out"],
)
case(
    "entry_is_number",
    "a layer entry that is a number",
    chain("- relu", "- @@42"),
    "E-TYPE",
    ["layers.1"],
)
case(
    "archc_version_text",
    "a spec language version that is not a number",
    "archc: @@one\nnetwork: t\ninput: [3, 32, 32]\nlayers: [relu]\n",
    "E-TYPE",
    ["archc", "one"],
)

# ---------------------------------------------------------------- kinds and fields
case(
    "unknown_kind_string",
    "a misspelled activation",
    chain("- {type: conv, out: 8, kernel: 3}", "- @@rleu"),
    "E-UNKNOWN-KIND",
    ["unknown layer 'rleu'", "did you mean 'relu'"],
)
case(
    "unknown_kind_type",
    "a misspelled layer type",
    chain("- {type: @@convv, out: 8, kernel: 3}"),
    "E-UNKNOWN-KIND",
    ["unknown layer type 'convv'", "did you mean 'conv'"],
)
case(
    "unknown_notation",
    "paper notation with a typo",
    chain("- @@conv3_64"),
    "E-UNKNOWN-KIND",
    ["unknown layer 'conv3_64'", "notation"],
)
case(
    "unknown_field_conv",
    "a misspelled conv field",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, @@strid: 2}"),
    "E-UNKNOWN-FIELD",
    ["conv 'conv1'", "unknown field 'strid'", "did you mean 'stride'"],
)
case(
    "unknown_field_pool",
    "a misspelled pool field",
    chain("- {type: maxpool, kernel: 2, @@ceil: true}"),
    "E-UNKNOWN-FIELD",
    ["maxpool", "unknown field 'ceil'", "did you mean 'ceil_mode'"],
)
case(
    "unknown_field_with_line_break",
    "a key holding a line break (the diagnostic must stay on one line)",
    chain('- {name: conv1, type: conv, out: 8, kernel: 3, @@"str\\nide": 2}'),
    "E-UNKNOWN-FIELD",
    ["conv 'conv1'", "unknown field 'str\\nide'"],
)
case(
    "field_on_relu",
    "a field on a layer that takes none",
    chain("- {name: act, type: relu, @@inplace: true}"),
    "E-UNKNOWN-FIELD",
    ["relu 'act'", "unknown field 'inplace'"],
)
case(
    "missing_out_conv",
    "a conv without out",
    chain("- @@{name: conv1, type: conv, kernel: 3}"),
    "E-MISSING-FIELD",
    ["conv 'conv1'", "missing required field 'out'"],
)
case(
    "missing_kernel_conv",
    "a conv without kernel",
    chain("- @@{name: conv1, type: conv, out: 8}"),
    "E-MISSING-FIELD",
    ["conv 'conv1'", "missing required field 'kernel'"],
)
case(
    "missing_type",
    "an entry without a type",
    chain("- @@{name: conv1, out: 8, kernel: 3}"),
    "E-MISSING-FIELD",
    ["no 'type'"],
)
case(
    "type_is_number",
    "a type that is a number",
    chain("- {name: c, type: @@7}"),
    "E-TYPE",
    ["type", "7"],
)
case(
    "out_is_float",
    "a fractional number of filters",
    chain("- {name: conv1, type: conv, out: @@8.5, kernel: 3}"),
    "E-TYPE",
    ["conv 'conv1'", "out", "8.5"],
)
case(
    "out_is_word",
    "a number of filters given as a word",
    chain("- {name: conv1, type: conv, out: @@many, kernel: 3}"),
    "E-EXPR-NAME",
    ["unknown name 'many'"],
)
case(
    "kernel_is_bool",
    "a kernel given as a boolean",
    chain("- {name: conv1, type: conv, out: 8, kernel: @@true}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "kernel", "boolean"],
)
case(
    "kernel_three_sizes",
    "a 3-D kernel on a 2-D conv",
    chain("- {name: conv1, type: conv, out: 8, kernel: @@[3, 3, 3]}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "kernel", "[height, width]"],
)
case(
    "bias_is_text",
    "bias given as a word",
    chain("- {name: fc, type: linear, out: 10, bias: @@maybe}"),
    "E-EXPR-NAME",
    ["unknown name 'maybe'"],
)
case(
    "doc_is_number",
    "a doc that YAML reads as a number",
    chain("- {name: c, type: conv, out: 8, kernel: 3, doc: @@5}"),
    "E-TYPE",
    ["doc: expected text, got 5"],
)
case(
    "yaml_lone_surrogate",
    "half of a UTF-16 surrogate pair, escaped, in a description",
    'network: t\ndescription: @@"smile \\ud83d\\ude00"\ninput: [3, 32, 32]\nlayers: [relu]\n',
    "E-YAML-TEXT",
    ["unpaired surrogate (\\ud83d)", "escape it whole"],
)
case(
    "padding_unknown_word",
    "padding given as an unknown word",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, padding: @@full}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "padding", "'full'", "same", "valid"],
)
case(
    "dropout_p_above_one",
    "a dropout probability above 1",
    chain("- {name: drop, type: dropout, p: @@1.5}"),
    "E-FIELD-VALUE",
    ["dropout 'drop'", "p", "1.5"],
)
case(
    "trainable_not_bool",
    "trainable given as a number",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, trainable: @@2}"),
    "E-TYPE",
    ["conv 'conv1'", "trainable"],
)

# ---------------------------------------------------------------- sizes
case(
    "out_zero",
    "a conv with zero filters",
    chain("- {name: conv1, type: conv, out: @@0, kernel: 3}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "out", "greater than 0"],
)
case(
    "linear_out_negative",
    "a linear layer with negative outputs",
    chain("- flatten", "- {name: fc, type: linear, out: @@-10}"),
    "E-FIELD-VALUE",
    ["linear 'fc'", "out", "-10"],
)
case(
    "kernel_zero",
    "a zero-sized kernel",
    chain("- {name: conv1, type: conv, out: 8, kernel: @@0}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "kernel must be at least 1"],
)
case(
    "stride_negative",
    "a negative stride",
    chain("- {name: pool1, type: maxpool, kernel: 2, stride: @@-2}"),
    "E-FIELD-VALUE",
    ["maxpool 'pool1'", "stride must be at least 1"],
)
case(
    "padding_negative",
    "a negative padding",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, padding: @@-1}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "padding cannot be negative"],
)
case(
    "dilation_zero",
    "a zero dilation",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, dilation: @@0}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "dilation must be at least 1"],
)
case(
    "pool_padding_too_large",
    "pool padding above half the window (PyTorch refuses it)",
    chain("- {name: pool1, type: maxpool, kernel: 2, padding: @@2}"),
    "E-FIELD-VALUE",
    ["maxpool 'pool1'", "more than half the window"],
)
case(
    "groups_zero",
    "zero groups",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, groups: @@0}"),
    "E-FIELD-VALUE",
    ["conv 'conv1'", "groups", "greater than 0"],
)
case(
    "adaptive_size_zero",
    "an adaptive pool to 0x0",
    chain("- {name: gap, type: adaptive_avgpool, size: @@0}"),
    "E-FIELD-VALUE",
    ["adaptive_avgpool 'gap'", "size must be at least 1"],
)

# ---------------------------------------------------------------- shapes
case(
    "kernel_larger_than_input",
    "an 11x11 kernel on a 5x5 input",
    "network: t\ninput: [3, 5, 5]\nlayers:\n  - {name: conv1, type: conv, out: 8, kernel: @@11}\n",
    "E-SHAPE-KERNEL",
    ["conv 'conv1'", "kernel 11", "5x5"],
)
case(
    "kernel_larger_after_stride",
    "a kernel larger than the volume left after striding",
    chain(
        "- {name: conv1, type: conv, out: 8, kernel: 5, stride: 4}",
        "- {name: conv2, type: conv, out: 8, kernel: @@9}",
    ),
    "E-SHAPE-KERNEL",
    ["conv 'conv2'", "kernel 9", "7x7"],
)
case(
    "dilated_kernel_too_wide",
    "a dilated kernel wider than its input",
    chain("- {name: conv1, type: conv, out: 8, kernel: @@3, dilation: 20}"),
    "E-SHAPE-KERNEL",
    ["conv 'conv1'", "spanning 41x41", "32x32"],
)
case(
    "pool_larger_than_input",
    "a pool window larger than its input",
    "network: t\ninput: [3, 3, 3]\nlayers:\n  - {name: pool1, type: maxpool, kernel: @@4}\n",
    "E-SHAPE-KERNEL",
    ["maxpool 'pool1'", "window 4", "3x3"],
)
case(
    "volume_shrinks_to_nothing",
    "pooling until nothing is left",
    "network: t\ninput: [3, 8, 8]\nlayers:\n  - maxpool\n  - maxpool\n  - maxpool\n"
    "  - {name: pool4, type: maxpool, kernel: @@2}\n",
    "E-SHAPE-KERNEL",
    ["maxpool 'pool4'", "window 2", "1x1"],
)
case(
    "padding_same_with_stride",
    "padding same with stride 2",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, stride: 2, padding: @@same}"),
    "E-SHAPE",
    ["conv 'conv1'", "padding 'same' needs stride 1"],
)
case(
    "groups_not_dividing_input",
    "groups that do not divide the input channels",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, groups: @@2}"),
    "E-SHAPE",
    ["conv 'conv1'", "input channels (3)", "groups=2"],
)
case(
    "groups_not_dividing_output",
    "groups that do not divide the output channels",
    "network: t\ninput: [4, 32, 32]\nlayers:\n  - {name: conv1, type: conv, out: 6, kernel: 3, groups: @@4}\n",
    "E-SHAPE",
    ["conv 'conv1'", "output channels (6)", "groups=4"],
)
case(
    "add_channel_mismatch",
    "a residual add of 8 and 16 channels",
    chain(
        "- {name: a, type: conv, out: 8, kernel: 3, padding: 1}",
        "- {name: b, type: conv, out: 16, kernel: 3, padding: 1}",
        "- {name: sum, type: add, inputs: @@[a, b]}",
    ),
    "E-SHAPE-ADD",
    ["add 'sum'", "32x32x8", "32x32x16", "differ"],
)
case(
    "add_size_mismatch",
    "a residual add across a stride",
    chain(
        "- {name: a, type: conv, out: 8, kernel: 3, padding: 1}",
        "- {name: b, type: conv, out: 8, kernel: 3, stride: 2, padding: 1}",
        "- {name: sum, type: add, inputs: @@[a, b]}",
    ),
    "E-SHAPE-ADD",
    ["add 'sum'", "32x32x8", "16x16x8"],
)
case(
    "add_one_input",
    "an add with a single input",
    chain("- {name: a, type: conv, out: 8, kernel: 3}", "- @@{name: sum, type: add}"),
    "E-INPUTS",
    ["add 'sum'", "at least 2", "got 1"],
)
case(
    "concat_size_mismatch",
    "a concat of 32x32 and 16x16 volumes",
    chain(
        "- {name: a, type: conv, out: 8, kernel: 3, padding: 1}",
        "- {name: b, type: maxpool, inputs: input}",
        "- {name: cat, type: concat, inputs: @@[a, b]}",
    ),
    "E-SHAPE-CONCAT",
    ["concat 'cat'", "32x32x8", "16x16x3", "height or width"],
)
case(
    "concat_vector_and_volume",
    "a concat of a vector and a volume",
    chain("- {name: flat, type: flatten}", "- {name: cat, type: concat, inputs: @@[flat, input]}"),
    "E-SHAPE-CONCAT",
    ["concat 'cat'", "3072", "32x32x3"],
)
case(
    "linear_on_volume",
    "a linear layer on an unflattened volume",
    chain(
        "- {name: conv1, type: conv, out: 8, kernel: 3}", "- @@{name: fc, type: linear, out: 10}"
    ),
    "E-SHAPE-RANK",
    ["linear 'fc'", "30x30x8", "flatten"],
)
case(
    "layernorm_axis_unsaid",
    "a layer norm on a CxHxW volume that does not say which axis",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3}", "- @@{name: ln, type: layernorm}"),
    "E-SHAPE-RANK",
    ["layernorm 'ln'", "over: channels", "over: last"],
)
case(
    "multiply_gate_wrong_channels",
    "a squeeze-excitation gate with other channels than the volume it scales",
    chain(
        "- {name: pool, type: adaptive_avgpool}",
        "- {name: fc, type: conv, out: 8, kernel: 1}",
        "- {name: gate, type: sigmoid}",
        "- {name: scale, type: multiply, inputs: @@[gate, input]}",
    ),
    "E-SHAPE-MULTIPLY",
    ["multiply 'scale'", "1x1x8 and 32x32x3", "broadcast"],
)
case(
    "params_cycle",
    "top-level params defined by each other",
    "network: t\ninput: [3, 32, 32]\nparams: {width: @@2 * depth, depth: width // 2}\nlayers:\n  - {type: conv, out: width, kernel: 3}\n",
    "E-PARAM-CYCLE",
    ["cycle", "width -> depth -> width"],
)
case(
    "repeat_names_brace_open",
    "a names: pattern with a brace left open",
    chain('- {type: relu, repeat: 2, names: @@"r{index"}'),
    "E-TYPE",
    ["names", "brace"],
)
case(
    "conv_after_flatten",
    "a convolution of a flat vector",
    chain("- flatten", "- @@{name: conv1, type: conv, out: 8, kernel: 3}"),
    "E-SHAPE-RANK",
    ["conv 'conv1'", "3072"],
)
case(
    "conv_on_tokens",
    "a convolution of a token sequence",
    chain(
        "- {type: conv, out: 64, kernel: 8, stride: 8}",
        "- map_to_tokens",
        "- @@{name: conv2, type: conv, out: 8, kernel: 3}",
    ),
    "E-SHAPE-RANK",
    ["conv 'conv2'", "16x64", "token sequence", "tokens_to_map"],
)
case(
    "attention_heads_indivisible",
    "attention heads that do not divide the width",
    chain(
        "- {type: conv, out: 100, kernel: 8, stride: 8}",
        "- map_to_tokens",
        "- {name: attn, type: self_attention, heads: @@12}",
    ),
    "E-SHAPE-HEADS",
    ["self_attention 'attn'", "16x100", "12 heads"],
)
case(
    "attention_on_map",
    "self-attention over a map, not a sequence",
    chain("- {type: conv, out: 8, kernel: 3}", "- @@{name: attn, type: self_attention, heads: 2}"),
    "E-SHAPE-RANK",
    ["self_attention 'attn'", "30x30x8", "map_to_tokens"],
)
case(
    "window_does_not_tile",
    "a Swin window that does not tile the map",
    "network: t\ninput: [3, 60, 60]\nlayers:\n"
    "  - {type: conv, out: 48, kernel: 4, stride: 4}\n"
    "  - {type: permute, dims: [0, 2, 3, 1]}\n"
    "  - {name: attn, type: window_attention, heads: 3, window: @@7}\n",
    "E-SHAPE-WINDOW",
    ["window_attention 'attn'", "15x15", "15x15x48"],
)
case(
    "patch_merging_odd",
    "patch merging of a map with an odd side",
    "network: t\ninput: [3, 60, 60]\nlayers:\n"
    "  - {type: conv, out: 48, kernel: 4, stride: 4}\n"
    "  - {type: permute, dims: [0, 2, 3, 1]}\n"
    "  - @@{name: merge, type: patch_merging}\n",
    "E-SHAPE-WINDOW",
    ["patch_merging 'merge'", "15x15", "even"],
)
case(
    "pool_after_linear",
    "a pool over the output of a linear layer",
    chain("- flatten", "- {type: linear, out: 10}", "- @@{name: pool, type: maxpool}"),
    "E-SHAPE-RANK",
    ["maxpool 'pool'", "10"],
)
case(
    "connection_table_rows",
    "a connection table with too few rows",
    chain("- {name: c3, type: conv, out: 3, kernel: 5, connections: @@[[0, 1], [1, 2]]}"),
    "E-SHAPE",
    ["conv 'c3'", "2 rows", "out is 3"],
)
case(
    "connection_table_index",
    "a connection table naming a map that does not exist",
    chain("- {name: c3, type: conv, out: 2, kernel: 5, connections: @@[[0, 1], [2, 3]]}"),
    "E-SHAPE",
    ["conv 'c3'", "row 1", "[2, 3]", "0..2"],
)
case(
    "connection_table_groups",
    "a connection table combined with groups",
    chain("- {name: c3, type: conv, out: 2, kernel: 5, groups: @@2, connections: [[0], [1]]}"),
    "E-SHAPE",
    ["conv 'c3'", "connection table", "groups"],
)
case(
    "subsample_pad_fewer_channels",
    "a shortcut that would drop channels",
    chain("- {name: sc, type: subsample_pad, out: @@2, stride: 2}"),
    "E-SHAPE",
    ["subsample_pad 'sc'", "out (2)", "3 channels"],
)

# ---------------------------------------------------------------- names and graph
case(
    "dangling_input",
    "an input naming nothing",
    chain(
        "- {name: conv1, type: conv, out: 8, kernel: 3}",
        "- {name: act, type: relu, inputs: [@@conv2]}",
    ),
    "E-NAME-UNDEFINED",
    ["relu 'act'", "input 'conv2'", "not defined", "did you mean 'conv1'"],
)
case(
    "forward_reference",
    "an input naming a later entry (a cycle)",
    chain("- {name: a, type: relu, inputs: [@@b]}", "- {name: b, type: relu}"),
    "E-CYCLE",
    ["relu 'a'", "input 'b'", "defined later", "cycle"],
)
case(
    "self_reference",
    "an add that reads its own output",
    chain("- {name: a, type: add, inputs: [input, @@a]}"),
    "E-CYCLE",
    ["input 'a'", "cycle"],
)
case(
    "duplicate_name",
    "two entries with the same name",
    chain(
        "- {name: conv1, type: conv, out: 8, kernel: 3}",
        "- {name: @@conv1, type: conv, out: 8, kernel: 3}",
    ),
    "E-NAME-DUPLICATE",
    ["name 'conv1'", "already used"],
)
case(
    "inputs_is_number",
    "inputs given as a number",
    chain("- {name: a, type: relu, inputs: @@3}"),
    "E-TYPE",
    ["inputs", "names"],
)
case(
    "name_starts_with_digit",
    "a name that is not an identifier",
    chain("- {name: @@1conv, type: conv, out: 8, kernel: 3}"),
    "E-NAME-INVALID",
    ["'1conv'", "identifier"],
)
case(
    "name_keyword",
    "a Python keyword as a name",
    chain("- {name: @@class, type: relu}"),
    "E-NAME-INVALID",
    ["'class'", "reserved"],
)
case(
    "name_reserved_forward",
    "a name that would shadow nn.Module.forward",
    chain("- {name: @@forward, type: relu}"),
    "E-NAME-INVALID",
    ["'forward'", "reserved"],
)
case(
    "name_is_number",
    "a name given as a number",
    chain("- {name: @@12, type: relu}"),
    "E-NAME-INVALID",
    ["12", "text"],
)

# ---------------------------------------------------------------- variants
VAR = (
    "network: t\ninput: [3, 32, 32]\nparams: {width: 8}\ndefault: small\nvariants:\n"
    "  small: {params: {width: 8}}\n  large: {params: {width: 64}}\nlayers:\n"
    "  - {type: conv, out: width, kernel: 3}\n"
)
case(
    "unknown_variant_cli",
    "--variant names no variant",
    VAR.replace("variants:", "@@variants:"),
    "E-UNKNOWN-VARIANT",
    ["no variant 'larg'", "small, large", "did you mean 'large'"],
    args=["--variant", "larg"],
)
case(
    "unknown_default_variant",
    "default names no variant",
    VAR.replace("default: small", "default: @@smal"),
    "E-UNKNOWN-VARIANT",
    ["default variant 'smal'", "did you mean 'small'"],
)
case(
    "variant_extends_unknown",
    "a variant extending a missing variant",
    VAR.replace("large: {params", "large: {extends: @@tiny, params"),
    "E-UNKNOWN-VARIANT",
    ["extends unknown variant 'tiny'"],
    args=["--variant", "large"],
)
case(
    "variant_extends_cycle",
    "variants extending each other",
    VAR.replace("small: {params", "small: {extends: large, params")
    .replace("large: {params", "large: {extends: small, params")
    .replace("  small: {", "  small: @@{"),
    "E-VARIANT-CYCLE",
    ["extends itself", "small -> large -> small"],
)
case(
    "variant_undeclared_param",
    "a variant setting a parameter the spec does not declare",
    VAR.replace("large: {params: {width: 64}}", "large: {params: {@@widht: 64}}"),
    "E-UNKNOWN-PARAM",
    ["'widht'", "did you mean 'width'"],
    args=["--variant", "large"],
)
case(
    "variant_unknown_field",
    "a misspelled variant field",
    VAR.replace("large: {params: {width: 64}}", "large: {@@clas_name: Big}"),
    "E-UNKNOWN-FIELD",
    ["unknown field 'clas_name'", "did you mean 'class_name'"],
)
case(
    "variant_input_bad",
    "a variant whose input has a zero size",
    VAR.replace("large: {params: {width: 64}}", "large: {input: [3, @@0, 32]}"),
    "E-INPUT",
    ["positive integers"],
    args=["--variant", "large"],
)

# ---------------------------------------------------------------- blocks and expressions
BLK = (
    "network: t\ninput: [3, 32, 32]\nblocks:\n  unit:\n    params: {planes: ~, stride: 1}\n"
    "    layers:\n      - {name: conv, type: conv, out: planes, kernel: 3, stride: stride, padding: 1}\n"
    "      - {name: act, type: relu}\nlayers:\n"
)
case(
    "block_missing_argument",
    "a block instance without its required parameter",
    BLK + "  - @@{name: b1, type: unit}\n",
    "E-BLOCK-ARGS",
    ["block 'unit'", "needs a value for 'planes'"],
)
case(
    "block_extra_argument",
    "a block instance with an argument the block lacks",
    BLK + "  - {name: b1, type: unit, planes: 8, @@plane: 8}\n",
    "E-BLOCK-ARGS",
    ["block 'unit'", "no parameter 'plane'", "did you mean 'planes'"],
)
case(
    "block_division_by_zero",
    "a block argument dividing by zero",
    BLK + "  - {name: b1, type: unit, planes: @@8 // 0}\n",
    "E-EXPR-DIVISION",
    ["division by zero", "8 // 0"],
)
case(
    "block_body_division_by_zero",
    "a block body dividing by a zero argument",
    BLK.replace("out: planes,", "out: @@64 / (stride - 1),")
    + "  - {name: b1, type: unit, planes: 8}\n",
    "E-EXPR-DIVISION",
    ["division by zero", "64 / (stride - 1)"],
)
case(
    "block_unknown_name",
    "a block body using an undeclared name",
    BLK.replace("out: planes,", "out: @@4 * plane,") + "  - {name: b1, type: unit, planes: 8}\n",
    "E-EXPR-NAME",
    ["unknown name 'plane'", "did you mean 'planes'"],
)
case(
    "block_recursion",
    "a block that instantiates itself",
    "network: t\ninput: [3, 32, 32]\nblocks:\n  loop:\n    layers:\n      - relu\n"
    "      - {type: @@loop}\nlayers:\n  - loop\n",
    "E-BLOCK-RECURSION",
    ["block 'loop'", "loop -> loop"],
)
case(
    "block_mutual_recursion",
    "two blocks that instantiate each other",
    "network: t\ninput: [3, 32, 32]\nblocks:\n  ping:\n    layers: [relu, {type: pong}]\n"
    "  pong:\n    layers: [relu, {type: @@ping}]\nlayers:\n  - ping\n",
    "E-BLOCK-RECURSION",
    ["ping -> pong -> ping"],
)
case(
    "block_output_unknown",
    "a block returning an entry it lacks",
    BLK.replace("layers:\nlayers:", "XX").replace(
        "      - {name: act, type: relu}\n", "      - {name: act, type: relu}\n    output: @@actt\n"
    )
    + "  - {name: b1, type: unit, planes: 8}\n",
    "E-NAME-UNDEFINED",
    ["output 'actt'", "did you mean 'act'"],
)
case(
    "block_unknown_field",
    "a misspelled key in a block definition",
    BLK.replace("    params:", "    @@param:", 1) + "  - {name: b1, type: unit}\n",
    "E-UNKNOWN-FIELD",
    ["unknown field 'param'", "did you mean 'params'"],
)
case(
    "block_missing_layers",
    "a block without a body",
    "network: t\ninput: [3, 32, 32]\nblocks:\n  unit: @@{params: {planes: 8}}\nlayers: [unit]\n",
    "E-MISSING-FIELD",
    ["missing required field", "layers"],
)
case(
    "block_shape_error_inside",
    "a block whose add fails for the given argument",
    "network: t\ninput: [3, 32, 32]\nblocks:\n  res:\n    params: {planes: ~}\n    layers:\n"
    "      - {name: conv, type: conv, out: planes, kernel: 3, padding: 1}\n"
    "      - {name: add, type: add, inputs: @@[conv, input]}\nlayers:\n"
    "  - {name: layer1, type: res, planes: 16}\n",
    "E-SHAPE-ADD",
    ["add 'layer1.add'", "32x32x16", "32x32x3"],
)
case(
    "expr_syntax_error",
    "an expression that does not parse",
    chain("- {name: conv1, type: conv, out: @@4 *, kernel: 3}"),
    "E-EXPR",
    ["cannot parse", "4 *"],
)
case(
    "expr_import_call",
    "an expression that tries to call __import__",
    chain("- {name: conv1, type: conv, out: @@\"__import__('os').getpid()\", kernel: 3}"),
    "E-EXPR",
    ["not allowed"],
)
case(
    "expr_attribute",
    "an expression with attribute access",
    "network: t\ninput: [3, 32, 32]\nparams: {w: 8}\nlayers:\n  - {name: conv1, type: conv, out: @@w.real, kernel: 3}\n",
    "E-EXPR",
    ["w.real", "not allowed"],
)
case(
    "expr_huge_power",
    "an expression whose value is astronomically large",
    chain("- {name: conv1, type: conv, out: @@10 ** 100, kernel: 3}"),
    "E-LIMIT-EXPR",
    ["too large"],
)
case(
    "expr_unknown_dollar",
    "a $param that is not declared",
    chain("- {name: conv1, type: conv, out: @@$width, kernel: 3}"),
    "E-EXPR-NAME",
    ["unknown parameter 'width'"],
)
case(
    "type_param_unknown",
    "a type chosen by an undeclared parameter",
    "network: t\ninput: [3, 32, 32]\nparams: {block: relu}\nlayers:\n  - {name: b, type: @@$blok}\n",
    "E-EXPR-NAME",
    ["unknown parameter 'blok'", "did you mean 'block'"],
)
case(
    "expr_index_out_of_range",
    "a parameter list indexed past its end",
    "network: t\ninput: [3, 32, 32]\nparams: {widths: [8, 16]}\nlayers:\n"
    '  - {name: conv1, type: conv, out: @@"widths[2]", kernel: 3}\n',
    "E-EXPR",
    ["index 2", "out of range"],
)

# ---------------------------------------------------------------- when / repeat / overrides
case(
    "when_not_bool",
    "when giving a number",
    chain("- {name: a, type: relu, when: @@3}"),
    "E-TYPE",
    ["relu 'a'", "when", "true or false", "3"],
)
case(
    "when_unknown_name",
    "when using an undeclared name",
    chain("- {name: a, type: relu, when: @@use_act}"),
    "E-EXPR-NAME",
    ["unknown name 'use_act'"],
)
case(
    "repeat_negative",
    "a negative repeat",
    chain("- {name: stage, type: relu, repeat: @@-1}"),
    "E-FIELD-VALUE",
    ["relu 'stage'", "repeat", "-1"],
)
case(
    "repeat_fraction",
    "a fractional repeat",
    chain("- {name: stage, type: relu, repeat: @@2.5}"),
    "E-FIELD-VALUE",
    ["repeat", "2.5"],
)
case(
    "repeat_word",
    "a repeat given as a word",
    chain("- {name: stage, type: relu, repeat: @@twice}"),
    "E-EXPR-NAME",
    ["unknown name 'twice'"],
)
case(
    "repeat_billion",
    "a repeat of a billion copies",
    chain("- {name: stage, type: relu, repeat: @@1000000000}"),
    "E-LIMIT-REPEAT",
    ["relu 'stage'", "1,000,000,000", "limit"],
)
case(
    "overrides_index_out_of_range",
    "an override for a copy that does not exist",
    chain(
        "- {name: stage, type: conv, out: 8, kernel: 3, padding: 1, repeat: 2, overrides: {@@5: {stride: 2}}}"
    ),
    "E-FIELD-VALUE",
    ["overrides", "'5'", "0..1"],
)
case(
    "overrides_not_mapping",
    "overrides given as a list",
    chain("- {name: stage, type: relu, repeat: 2, overrides: @@[1, 2]}"),
    "E-TYPE",
    ["overrides", "mapping"],
)
case(
    "overrides_change_not_mapping",
    "an override that is not a mapping of fields",
    chain("- {name: stage, type: relu, repeat: 2, overrides: {0: @@2}}"),
    "E-TYPE",
    ["overrides", "0"],
)
case(
    "overrides_without_repeat",
    "overrides on a single layer",
    chain("- {name: conv1, type: conv, out: 8, kernel: 3, @@overrides: {0: {stride: 2}}}"),
    "E-UNKNOWN-FIELD",
    ["conv 'conv1'", "'overrides'", "single layer"],
)
case(
    "overrides_bad_field",
    "an override with a misspelled field",
    chain(
        "- {name: stage, type: conv, out: 8, kernel: 3, repeat: 2, overrides: {0: {@@strid: 2}}}"
    ),
    "E-UNKNOWN-FIELD",
    ["conv", "unknown field 'strid'", "did you mean 'stride'"],
)

# ---------------------------------------------------------------- imports
case(
    "import_missing",
    "an import of a file that does not exist",
    "network: t\ninput: [3, 32, 32]\nimports: [@@blocks/nowhere.yaml]\nlayers: [relu]\n",
    "E-IMPORT",
    ["blocks/nowhere.yaml", "does not exist"],
)
case(
    "import_self",
    "a spec importing itself",
    "network: t\ninput: [3, 32, 32]\nimports: [@@import_self.yaml]\nlayers: [relu]\n",
    "E-IMPORT-CYCLE",
    ["circular import", "import_self.yaml -> import_self.yaml"],
)
case(
    "import_cycle",
    "block files importing each other",
    "network: t\ninput: [3, 32, 32]\nimports: [blocks/cycle_a.yaml]\nlayers: [relu]\n",
    "E-IMPORT-CYCLE",
    ["circular import", "cycle_a.yaml -> cycle_b.yaml -> cycle_a.yaml"],
    extra={"file": "blocks/cycle_b.yaml"},
)
case(
    "import_broken_yaml",
    "an imported block file with a duplicate key",
    "network: t\ninput: [3, 32, 32]\nimports: [blocks/broken.yaml]\nlayers: [relu]\n",
    "E-YAML-DUPLICATE-KEY",
    ["duplicate key 'unit'"],
    extra={"file": "blocks/broken.yaml"},
)
case(
    "import_not_block_file",
    "an import of a network spec instead of a block file",
    "network: t\ninput: [3, 32, 32]\nimports: [blocks/network.yaml]\nlayers: [relu]\n",
    "E-UNKNOWN-FIELD",
    ["block file", "unknown field 'input'", "allowed: archc, blocks"],
    extra={
        "file": "blocks/network.yaml",
        "more": [
            "blocks/network.yaml:2:1 error[E-UNKNOWN-FIELD] unknown field 'network'",
            "blocks/network.yaml:4:1 error[E-UNKNOWN-FIELD] unknown field 'layers'",
        ],
    },
)
case(
    "imports_not_list",
    "imports given as a number",
    "network: t\ninput: [3, 32, 32]\nimports: @@3\nlayers: [relu]\n",
    "E-TYPE",
    ["imports"],
)

HELPERS = {
    "blocks/cycle_a.yaml": "# helper of import_cycle.yaml\nimports: [cycle_b.yaml]\nblocks: {}\n",
    "blocks/cycle_b.yaml": "# helper of import_cycle.yaml\nimports: [@@cycle_a.yaml]\nblocks: {}\n",
    "blocks/broken.yaml": "# helper of import_broken_yaml.yaml\nblocks:\n  unit: {layers: [relu]}\n"
    "  @@unit: {layers: [tanh]}\n",
    "blocks/network.yaml": "# helper of import_not_block_file.yaml\nnetwork: x\n@@input: [3, 8, 8]\n"
    "layers: [relu]\nblocks: {}\n",
}


def locate(text):
    index = text.index("@@")
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1, text.replace("@@", "", 1)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "blocks").mkdir(exist_ok=True)
    helper_marks = {}
    for rel, text in HELPERS.items():
        if "@@" in text:
            line, col, text = locate(text)
            helper_marks[rel] = (line, col)
        (OUT / rel).write_text(text)
    names = set()
    for name, what, body, code, words, args, extra in CASES:
        assert name not in names, name
        names.add(name)
        extra = extra or {}
        header = [f"# archc bad spec: {what}"]
        if args:
            header.append("# args: " + " ".join(args))
        nhead = len(header) + 1
        if "file" in extra:
            line, col = helper_marks[extra["file"]]
            where = f"{extra['file']}:{line}:{col}"
            text = body
        elif "at" in extra:
            line, col = extra["at"]
            where = f"{line}:{col}"
            text = body
        else:
            line, col, text = locate(body)
            where = f"{line + nhead}:{col}"
        assert "@@" not in text, name
        header.append(f"# expect: {where} error[{code}] " + " | ".join(words))
        header.extend(f"# expect: {more}" for more in extra.get("more", []))
        (OUT / f"{name}.yaml").write_text("\n".join(header) + "\n" + text)
    # Cases that cannot carry a header comment: expectations in a sidecar.
    (OUT / "empty_file.yaml").write_text("")
    (OUT / "empty_file.yaml.expect").write_text(
        "# archc bad spec: a file of zero bytes\n# expect: 1:1 error[E-EMPTY-FILE] empty\n"
    )
    (OUT / "not_utf8.bin").write_bytes(
        b"network: t\ninput: [3, 32, 32]\ndescription: caf\xe9 au lait\nlayers: [relu]\n"
    )
    (OUT / "not_utf8.bin.expect").write_text(
        "# archc bad spec: Latin-1 text (not UTF-8)\n"
        "# expect: 3:17 error[E-ENCODING] not UTF-8 | 0xe9\n"
    )
    (OUT / "binary_garbage.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    (OUT / "binary_garbage.bin.expect").write_text(
        "# archc bad spec: a PNG file given as a spec\n"
        "# expect: 1:1 error[E-ENCODING] not UTF-8 | 0x89\n"
    )
    (OUT / "utf16.bin").write_bytes("network: t\n".encode("utf-16"))
    (OUT / "utf16.bin.expect").write_text(
        "# archc bad spec: UTF-16 text with a byte-order mark\n"
        "# expect: 1:1 error[E-ENCODING] not UTF-8 | 0xff\n"
    )
    # Limits, small enough to keep in the repository.
    deep = (
        "network: t\ninput: [3, 32, 32]\nlayers: [relu]\nparams: {x: " + "[" * 80 + "]" * 80 + "}\n"
    )
    (OUT / "yaml_deep_nesting.yaml").write_text(
        "# archc bad spec: lists nested 80 deep\n"
        f"# expect: 6:{12 + 64} error[E-LIMIT-DEPTH] nesting | 64\n" + deep
    )
    print(len(CASES) + 4 + 1, "cases")


main()
