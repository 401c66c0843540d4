//! DWARF to BTF encoding. Not implemented yet: see issue 3.
