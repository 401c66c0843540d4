//! A tiny command-line parser: `--flag`, `--opt VALUE`, `--opt=VALUE`, positionals, `--`.

use anyhow::{anyhow, bail, Result};

/// Whether a task takes arguments besides its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positionals {
    /// None: one given fails, so that a mistyped option is not taken for a file.
    None,
    Any,
}

#[derive(Debug, Default)]
pub struct Args {
    opts: Vec<(String, String)>,
    flags: Vec<String>,
    pub positional: Vec<String>,
}

impl Args {
    /// `with_value` lists options taking a value, `bools` options without one.
    pub fn parse(raw: &[String], with_value: &[&str], bools: &[&str]) -> Result<Args> {
        let mut out = Args::default();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                out.positional.extend(it.by_ref().cloned());
                break;
            }
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                if with_value.contains(&name) {
                    let v = match inline {
                        Some(v) => v,
                        None => match it.next() {
                            Some(v) => v.clone(),
                            None => bail!("option --{name} needs a value"),
                        },
                    };
                    out.opts.push((name.to_string(), v));
                } else if bools.contains(&name) {
                    if inline.is_some() {
                        bail!("option --{name} takes no value");
                    }
                    out.flags.push(name.to_string());
                } else {
                    bail!("unknown option --{name}");
                }
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }

    /// Parses a task's arguments. `--help` is known to every task: it prints `usage` and
    /// gives `None`, and the task returns. Errors carry `usage`.
    pub fn task(
        raw: &[String],
        with_value: &[&str],
        bools: &[&str],
        positionals: Positionals,
        usage: &str,
    ) -> Result<Option<Args>> {
        let mut known = bools.to_vec();
        known.push("help");
        let a = Args::parse(raw, with_value, &known).map_err(|e| anyhow!("{e}\n{usage}"))?;
        if a.flag("help") {
            println!("{usage}");
            return Ok(None);
        }
        if positionals == Positionals::None && !a.positional.is_empty() {
            bail!("unexpected arguments {:?}\n{usage}", a.positional);
        }
        Ok(Some(a))
    }

    /// Last value given for `--name`.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_flags_and_positionals() {
        let a = Args::parse(
            &v(&[
                "--kernel",
                "k",
                "x.ko",
                "--strip-sig",
                "--timeout=5",
                "--",
                "--y",
            ]),
            &["kernel", "timeout"],
            &["strip-sig"],
        )
        .unwrap();
        assert_eq!(a.opt("kernel"), Some("k"));
        assert_eq!(a.opt("timeout"), Some("5"));
        assert!(a.flag("strip-sig"));
        assert_eq!(a.positional, v(&["x.ko", "--y"]));
        assert!(Args::parse(&v(&["--nope"]), &[], &[]).is_err());
        assert!(Args::parse(&v(&["--kernel"]), &["kernel"], &[]).is_err());
        assert!(Args::parse(&v(&["--strip-sig=1"]), &[], &["strip-sig"]).is_err());
    }

    #[test]
    fn a_task_knows_help_and_refuses_stray_arguments() {
        let usage = "cargo xtask t [--out DIR]";
        let t = |raw: &[&str], p| Args::task(&v(raw), &["out"], &["quick"], p, usage);
        assert!(t(&["--help"], Positionals::None).unwrap().is_none());
        assert!(t(&["--out", "d", "--help"], Positionals::Any)
            .unwrap()
            .is_none());
        let a = t(&["--out=d", "--quick"], Positionals::None)
            .unwrap()
            .unwrap();
        assert_eq!(a.opt("out"), Some("d"));
        assert!(a.flag("quick"));
        let e = t(&["fast"], Positionals::None).unwrap_err().to_string();
        assert!(
            e.contains("unexpected arguments [\"fast\"]") && e.contains(usage),
            "{e}"
        );
        let a = t(&["x.ko"], Positionals::Any).unwrap().unwrap();
        assert_eq!(a.positional, v(&["x.ko"]));
        let e = t(&["--nope"], Positionals::Any).unwrap_err().to_string();
        assert!(e.contains("--nope") && e.contains(usage), "{e}");
    }
}
