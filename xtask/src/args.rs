//! A tiny command-line parser: `--flag`, `--opt VALUE`, `--opt=VALUE`, positionals, `--`.

use anyhow::{bail, Result};

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
}
