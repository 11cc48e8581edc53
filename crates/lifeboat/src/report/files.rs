//! The report files a run was asked for: checked before the run starts (so a run does
//! not do all its work and then fail to write its report), written at its end
//! atomically (a temporary file beside the target, then a rename: a reader never sees
//! half a report, and an old report stays whole until the new one replaces it).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::RunRecord;
use crate::error::Error;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// `--report`: the HTML drill report.
    Html,
    /// `--junit`: JUnit XML.
    Junit,
    /// `--metrics-file`: Prometheus text exposition format.
    Metrics,
}

impl ReportKind {
    /// What the file is, for messages.
    pub fn what(self) -> &'static str {
        match self {
            ReportKind::Html => "the HTML report",
            ReportKind::Junit => "the JUnit XML",
            ReportKind::Metrics => "the metrics file",
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            ReportKind::Html => "--report",
            ReportKind::Junit => "--junit",
            ReportKind::Metrics => "--metrics-file",
        }
    }

    fn render(self, record: &RunRecord) -> String {
        match self {
            ReportKind::Html => super::html::render(record),
            ReportKind::Junit => super::junit::render(record),
            ReportKind::Metrics => super::metrics::render(record),
        }
    }
}

/// A report file to write at the end of the run.
#[derive(Clone, Debug)]
pub struct ReportFile {
    pub kind: ReportKind,
    pub path: PathBuf,
}

impl ReportFile {
    /// Checks that `path` can be written: its folder exists and takes new files, and it
    /// is not a folder. `runbook` is never overwritten by a report.
    pub fn check(kind: ReportKind, path: &Path, runbook: &Path) -> Result<ReportFile, Error> {
        let problem = |problem: String| Error::Report {
            what: kind.what(),
            path: path.display().to_string(),
            problem,
        };
        if path.as_os_str().is_empty() {
            return Err(problem(format!(
                "{} needs a file name, such as {}",
                kind.flag(),
                match kind {
                    ReportKind::Html => "drill.html",
                    ReportKind::Junit => "drill.xml",
                    ReportKind::Metrics => "lifeboat.prom",
                }
            )));
        }
        if path.is_dir() {
            return Err(problem(
                "it is a folder; give a file name inside it (nothing ran)".into(),
            ));
        }
        let folder = folder_of(path);
        if !folder.is_dir() {
            let why = if folder.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(problem(format!(
                "the folder {} {why}; create it first (nothing ran: reports are checked before the run starts)",
                folder.display()
            )));
        }
        if let (Ok(a), Ok(b)) = (std::fs::canonicalize(path), std::fs::canonicalize(runbook))
            && a == b
        {
            return Err(problem(
                "that is the runbook itself; give the report its own file (nothing ran)".into(),
            ));
        }
        // The one sure test that a folder takes new files: make one (removed on drop).
        if let Err(e) = tempfile::Builder::new()
            .prefix(".lifeboat-report-check.")
            .tempfile_in(folder)
        {
            return Err(problem(format!(
                "cannot create files in the folder {}: {e} (nothing ran: reports are checked before the run starts)",
                folder.display()
            )));
        }
        Ok(ReportFile {
            kind,
            path: path.to_path_buf(),
        })
    }

    /// Renders the record and writes it atomically.
    pub fn write(&self, record: &RunRecord) -> Result<(), Error> {
        let text = self.kind.render(record);
        write_atomically(&self.path, text.as_bytes()).map_err(|e| {
            let folder = folder_of(&self.path);
            Error::Report {
                what: self.kind.what(),
                path: self.path.display().to_string(),
                problem: if folder.is_dir() {
                    e.to_string()
                } else {
                    format!(
                        "the folder {} no longer exists (it did when the run started)",
                        folder.display()
                    )
                },
            }
        })
    }
}

/// Checks every report flag given (`--report`, `--junit`, `--metrics-file`, each a
/// path or `None`), refusing two reports in one file.
pub fn check_all(
    wanted: &[(ReportKind, Option<&Path>)],
    runbook: &Path,
) -> Result<Vec<ReportFile>, Error> {
    let given: Vec<(ReportKind, &Path)> = wanted
        .iter()
        .filter_map(|&(kind, path)| path.map(|p| (kind, p)))
        .collect();
    for (i, &(a_kind, a)) in given.iter().enumerate() {
        for &(b_kind, b) in &given[i + 1..] {
            if a == b || same_file(a, b) {
                return Err(Error::Usage(format!(
                    "{} and {} both name {}; give each report its own file",
                    a_kind.flag(),
                    b_kind.flag(),
                    a.display()
                )));
            }
        }
    }
    given
        .into_iter()
        .map(|(kind, p)| ReportFile::check(kind, p, runbook))
        .collect()
}

/// Whether two paths name the same file (both in the same folder with the same name,
/// whether or not the file exists yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        std::fs::canonicalize(folder_of(p))
            .ok()
            .zip(p.file_name().map(ToOwned::to_owned))
    };
    matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

/// The folder a file is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk, and renames
/// it over `path`. The file is readable by its owner only (0600), as the journal is.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(folder_of(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_in_a_missing_folder_or_on_a_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let runbook = dir.path().join("rb.yaml");
        let missing = dir.path().join("nope/drill.xml");
        let e = ReportFile::check(ReportKind::Junit, &missing, &runbook)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("does not exist"), "{e}");
        assert!(e.contains("the JUnit XML"), "{e}");
        let e = ReportFile::check(ReportKind::Html, dir.path(), &runbook)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("is a folder"), "{e}");
        std::fs::write(&runbook, "x").unwrap_or_else(|e| panic!("{e}"));
        assert!(ReportFile::check(ReportKind::Html, &runbook, &runbook).is_err());
        let a = dir.path().join("same.html");
        let same = dir.path().join("./same.html");
        assert!(
            check_all(
                &[
                    (ReportKind::Html, Some(&a)),
                    (ReportKind::Junit, Some(&same))
                ],
                &runbook
            )
            .is_err()
        );
        let e = check_all(
            &[
                (ReportKind::Html, None),
                (ReportKind::Junit, Some(&dir.path().join("j.xml"))),
                (ReportKind::Metrics, Some(&same)),
            ],
            &runbook,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.is_empty(), "{e}");
        let e = check_all(
            &[
                (ReportKind::Junit, Some(&a)),
                (ReportKind::Metrics, Some(&same)),
            ],
            &runbook,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("--junit and --metrics-file both name"), "{e}");
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = dir.path().join("r.txt");
        std::fs::write(&target, "old").unwrap_or_else(|e| panic!("{e}"));
        write_atomically(&target, b"new").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read_to_string(&target).unwrap_or_default(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
