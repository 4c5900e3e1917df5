"""The language server (`archc lsp`): archc's diagnostics, hover, definitions, completion
and outline in any LSP editor. Needs the `lsp` extra (pygls)."""
