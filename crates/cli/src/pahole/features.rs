//! BTF features: what the encoder emits, from pahole's classic flags or `--btf_features`.
//!
//! pahole's rules, which kbuild relies on: without `--btf_features`, the classic defaults hold
//! (variables, decl tags, type tags and ENUM64 on; floats only with `--btf_gen_floats`), changed
//! by the `--skip_encoding_btf_*` flags. The first `--btf_features` turns every feature off and
//! then on the listed ones; further `--btf_features` options add to the list. `all` is the
//! standard set; a list starting with `+` is the standard set plus the list. Unknown names are
//! ignored, as pahole ignores them to let newer kbuilds call older paholes, except under
//! `--btf_features_strict`.

use anyhow::{bail, Result};

/// The feature set the encoder gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub encode_force: bool,
    pub var: bool,
    pub float: bool,
    pub decl_tag: bool,
    pub type_tag: bool,
    pub enum64: bool,
    pub optimized_func: bool,
    pub consistent_func: bool,
    pub decl_tag_kfuncs: bool,
    pub reproducible_build: bool,
    pub distilled_base: bool,
    pub global_var: bool,
    /// kbtf's own: a module BTF with a base distilled from its own DWARF (no vmlinux).
    pub standalone: bool,
}

impl Default for Features {
    /// pahole's defaults without `--btf_features`.
    fn default() -> Features {
        Features {
            encode_force: false,
            var: true,
            float: false,
            decl_tag: true,
            type_tag: true,
            enum64: true,
            optimized_func: false,
            consistent_func: false,
            decl_tag_kfuncs: false,
            reproducible_build: false,
            distilled_base: false,
            global_var: false,
            standalone: false,
        }
    }
}

impl Features {
    fn none() -> Features {
        Features {
            var: false,
            decl_tag: false,
            type_tag: false,
            enum64: false,
            ..Features::default()
        }
    }

    /// The flag for feature `name`, if there is one. `standard` is whether `all` enables it.
    fn flag(&mut self, name: &str) -> Option<(&mut bool, bool)> {
        Some(match name {
            "encode_force" => (&mut self.encode_force, true),
            "var" => (&mut self.var, true),
            "float" => (&mut self.float, true),
            "decl_tag" => (&mut self.decl_tag, true),
            "type_tag" => (&mut self.type_tag, true),
            "enum64" => (&mut self.enum64, true),
            "optimized_func" => (&mut self.optimized_func, true),
            "consistent_func" => (&mut self.consistent_func, true),
            "decl_tag_kfuncs" => (&mut self.decl_tag_kfuncs, true),
            "reproducible_build" => (&mut self.reproducible_build, false),
            "distilled_base" => (&mut self.distilled_base, false),
            "global_var" => (&mut self.global_var, false),
            "standalone" => (&mut self.standalone, false),
            _ => return None,
        })
    }

    /// Every name `--btf_features` takes, standard ones first.
    pub const NAMES: &'static [&'static str] = &[
        "encode_force",
        "var",
        "float",
        "decl_tag",
        "type_tag",
        "enum64",
        "optimized_func",
        "consistent_func",
        "decl_tag_kfuncs",
        "reproducible_build",
        "distilled_base",
        "global_var",
        "standalone",
    ];

    fn enable_standard(&mut self) {
        for name in Self::NAMES {
            if let Some((f, true)) = self.flag(name) {
                *f = true;
            }
        }
    }
}

/// Collects the classic flags and `--btf_features` lists.
#[derive(Debug, Default)]
pub struct Parser {
    /// The classic flags applied to the defaults.
    pub classic: Features,
    /// The `--btf_features` set, once one was given.
    listed: Option<Features>,
}

impl Parser {
    pub fn add_list(&mut self, list: &str, strict: bool) -> Result<()> {
        let set = self.listed.get_or_insert_with(Features::none);
        let list = match list.strip_prefix('+') {
            Some(rest) => {
                set.enable_standard();
                rest
            }
            None => list,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                set.enable_standard();
            } else if let Some((f, _)) = set.flag(name) {
                *f = true;
            } else if strict {
                bail!(
                    "BTF feature '{name}' is not supported; supported features: {}",
                    Features::NAMES.join(",")
                );
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Features {
        self.listed.unwrap_or(self.classic)
    }
}
