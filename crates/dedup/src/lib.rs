//! BTF deduplication. Not implemented yet: see issues 3 and 4.
