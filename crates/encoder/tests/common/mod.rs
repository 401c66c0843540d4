//! Test helpers shared by the encoder's test files.

use std::path::{Path, PathBuf};

/// The repository root (fixtures live in `testdata/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
