//! Writing BTF into ELF files. Not implemented yet: see issue 4.
