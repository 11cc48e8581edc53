//! Diagnostics: one problem in one runbook, with its place (`file:line:col`), what is
//! wrong and a hint saying what to do. Everything `validate` reports is a `Diagnostic`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based position in a runbook file. Columns count characters, not bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl Loc {
    pub const fn new(line: u32, col: u32) -> Self {
        Loc { line, col }
    }
}

/// One error found in a runbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub loc: Loc,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(file: &Path, loc: Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            loc,
            message: sanitize(&message.into()),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(sanitize(&hint.into()));
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint.map(|h| sanitize(&h));
        self
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error: what` and, when there is one, `  hint: what to do`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.loc.line,
            self.loc.col,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every diagnostic of one or more runbooks, in file order then position order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Sorts by position and drops exact repeats (the same problem reached twice).
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by(|a, b| (&a.file, a.loc).cmp(&(&b.file, b.loc)));
        self.0.dedup();
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Longest quoted value shown in a message; longer ones are cut with `…`.
const MAX_SHOWN: usize = 80;

/// Makes a message safe for a terminal: control characters (newlines, tabs, escape
/// sequences) from the runbook are shown escaped, and long quoted values are cut.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let quoted = i % 2 == 1;
        let count = part.chars().count();
        for (n, c) in part.chars().enumerate() {
            if quoted && count > MAX_SHOWN && n == MAX_SHOWN - 1 {
                out.push('…');
                break;
            }
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// The closest candidate to `word` by edit distance, when it is close enough to be a
/// plausible typo (at most a third of the word's length, and at least 1).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    // Names are short; a long word is no typo of one (and must not cost quadratic time).
    if len > 64 {
        return None;
    }
    let limit = (len / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A hint naming the likely intended word, then the valid choices: `what` is a plural
/// noun such as "clusters".
pub fn did_you_mean<'a>(
    word: &str,
    what: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    const SHOWN: usize = 16;
    let mut list: Vec<String> = candidates
        .clone()
        .into_iter()
        .take(SHOWN + 1)
        .map(|c| format!("`{c}`"))
        .collect();
    if list.len() > SHOWN {
        let total = candidates.clone().into_iter().count();
        list.truncate(SHOWN);
        list.push(format!("and {} more", total - SHOWN));
    }
    let defined = if list.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("defined {what}: {}", list.join(", "))
    };
    match closest(word, candidates) {
        Some(best) => format!("did you mean `{best}`? {defined}"),
        None => defined,
    }
}

/// Optimal string alignment distance (an adjacent swap costs one edit), counted in
/// characters: how far a typo is from what was meant.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_one_letter_typos_only() {
        assert_eq!(closest("stanby", ["primary", "standby"]), Some("standby"));
        assert_eq!(closest("zzz", ["primary", "standby"]), None);
    }

    #[test]
    fn messages_escape_control_characters_and_cut_long_values() {
        assert_eq!(
            sanitize("unknown action `a\tb\u{1b}[31m`"),
            "unknown action `a\\tb\\u{1b}[31m`"
        );
        let long = format!("unknown step `{}`", "x".repeat(1000));
        let shown = sanitize(&long);
        assert!(shown.len() < 120 && shown.ends_with("…`"), "{shown}");
    }

    #[test]
    fn swapped_letters_cost_one() {
        assert_eq!(edit_distance("cuont", "count"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn hint_lists_defined_names() {
        let h = did_you_mean("stanby", "clusters", ["primary", "standby"]);
        assert_eq!(
            h,
            "did you mean `standby`? defined clusters: `primary`, `standby`"
        );
        assert_eq!(did_you_mean("x", "stores", []), "no stores are defined");
    }
}
