# tree-sitter grammars for CodeBLEU (compiled from the PyPI sdists fetched by scripts/setup.d/).
# Placeholder target until the grammar build is written.
add_library(sqz_grammars INTERFACE)
