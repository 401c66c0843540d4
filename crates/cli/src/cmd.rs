//! One module per subcommand: its flags (`Args`) and `run`, which returns the exit status.

pub mod check;
pub mod diff;
pub mod distill;
pub mod dump;
pub mod load;
pub mod regen;
pub mod relocate;
