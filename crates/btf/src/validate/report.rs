//! One-line display of a [`Problem`] and a capped, summarized [`Report`] for printing.

use std::fmt;

use super::names::Escaped;
use super::{Phase, Problem, ProblemClass};

impl fmt::Display for Problem {
    /// `[123] STRUCT 'foo': member 'bar' ...`, `[7] PTR (anon): ...`, or `header: ...` for
    /// problems of no type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.id, self.kind) {
            (Some(id), Some(kind)) if self.name.is_empty() => write!(f, "[{id}] {kind} (anon)")?,
            (Some(id), Some(kind)) => {
                write!(f, "[{id}] {kind} '{}'", Escaped(self.name.as_bytes()))?
            }
            (Some(id), None) => write!(f, "[{id}]")?,
            (None, _) => f.write_str(match self.phase {
                Phase::Header => "header",
                Phase::Strings => "string section",
                _ => "BTF",
            })?,
        }
        write!(f, ": {}", self.message)
    }
}

/// Problems capped for printing, with counts and a summary.
#[derive(Debug, Clone)]
pub struct Report {
    /// The first problems, at most the limit given to [`Report::new`].
    pub shown: Vec<Problem>,
    /// How many problems there are in all.
    pub total: usize,
    /// How many the kernel would reject ([`ProblemClass::Invalid`]).
    pub invalid: usize,
    /// How many of those the 6.1 kernel also checks when loading vmlinux or module BTF.
    pub invalid_for_kernel_btf: usize,
    /// How many are signs of a mismatched base ([`ProblemClass::WrongBase`]).
    pub wrong_base: usize,
}

impl Report {
    /// Keeps the first `limit` of `problems` and counts them all.
    pub fn new(mut problems: Vec<Problem>, limit: usize) -> Report {
        let total = problems.len();
        let invalid = problems
            .iter()
            .filter(|p| p.class == ProblemClass::Invalid)
            .count();
        let invalid_for_kernel_btf = problems
            .iter()
            .filter(|p| p.class == ProblemClass::Invalid && p.phase.checked_for_kernel_btf())
            .count();
        problems.truncate(limit);
        Report {
            shown: problems,
            total,
            invalid,
            invalid_for_kernel_btf,
            wrong_base: total - invalid,
        }
    }

    /// Whether nothing was found.
    pub fn is_ok(&self) -> bool {
        self.total == 0
    }

    /// How many problems are not in [`Report::shown`].
    pub fn omitted(&self) -> usize {
        self.total - self.shown.len()
    }

    /// One line: "no problems", or the counts and, for a mismatched base, what it means.
    pub fn summary(&self) -> String {
        if self.is_ok() {
            return "no problems".into();
        }
        let mut s = format!(
            "{} problem{}: {} the kernel would reject ({} also when loading module or vmlinux BTF in 6.1), {} sign{} of a different base",
            self.total,
            plural(self.total),
            self.invalid,
            self.invalid_for_kernel_btf,
            self.wrong_base,
            plural(self.wrong_base)
        );
        if self.wrong_base > 0 {
            s.push_str("; this split BTF looks built against a different base than the one given");
        }
        s
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl fmt::Display for Report {
    /// The shown problems, one a line, "... and N more", then the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.shown {
            writeln!(f, "{p}")?;
        }
        if self.omitted() > 0 {
            writeln!(f, "... and {} more", self.omitted())?;
        }
        writeln!(f, "{}", self.summary())
    }
}
