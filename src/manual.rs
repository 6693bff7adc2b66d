//! Shell completions and man pages, generated from the same clap definition as the parser
//! (`crate::cli::Cli`), so they cannot drift from the flags lane accepts. Both print the
//! script or the roff itself on stdout for packagers (`lane completions bash >
//! /usr/share/bash-completion/completions/lane`, `lane man > lane.1`); `lane man --dir DIR`
//! writes every page and reports them in the usual JSON document.

use std::path::PathBuf;

use clap::CommandFactory;
use serde::Serialize;

use crate::error::{Classified, ExitClass, Failure};
use crate::output::{Outcome, Report};

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
lane completions bash > /usr/share/bash-completion/completions/lane\n  \
lane completions zsh > \"${fpath[1]}/_lane\"\n  \
lane completions fish > ~/.config/fish/completions/lane.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
lane man | man -l -                 # read lane(1)\n  \
lane man plan > lane-plan.1\n  \
lane man --dir /usr/share/man/man1  # lane.1 and one lane-<subcommand>.1 each")]
pub struct ManArgs {
    /// The page of this subcommand (lane-<subcommand>(1)) instead of lane(1).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub subcommand: Option<String>,
    /// Write lane.1 and every lane-<subcommand>.1 into DIR (each atomically) and print the
    /// usual JSON document listing them.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The CLI definition as clap builds it (subcommand display names like `lane-plan`).
fn built() -> clap::Command {
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The completion script for `shell`.
pub fn completions(a: &CompletionsArgs) -> Vec<u8> {
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "lane", &mut out);
    out
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut out);
    out
}

/// Why a page could not be shown or written.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("lane has no subcommand '{name}' to show a page for")]
    NoSubcommand { name: String, known: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

impl Classified for ManualError {
    fn class(&self) -> ExitClass {
        match self {
            ManualError::NoSubcommand { .. } => ExitClass::Usage,
            ManualError::Write { .. } => ExitClass::Environment,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            ManualError::NoSubcommand { known, .. } => format!("one of: {known}"),
            ManualError::Write { .. } => "check that the directory is writable".into(),
        })
    }
}

/// One page: lane(1), or lane-<subcommand>(1).
pub fn page(subcommand: Option<&str>) -> Result<Vec<u8>, Failure> {
    let cmd = built();
    match subcommand {
        None => Ok(render(cmd)),
        Some(name) => {
            let known: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == name)
                .cloned()
                .ok_or_else(|| ManualError::NoSubcommand {
                    name: name.to_string(),
                    known: known.join(", "),
                })?;
            Ok(render(sub))
        }
    }
}

/// Every page, `(file name, roff)`: lane.1 first.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let cmd = built();
    let mut out = vec![("lane.1".to_string(), render(cmd.clone()))];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone());
        out.push((man.get_filename(), render(sub.clone())));
    }
    out
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ManReport {
    pub dir: String,
    pub files: Vec<String>,
}

impl Report for ManReport {
    fn text(&self) -> String {
        format!("wrote {} man page(s) into {}", self.files.len(), self.dir)
    }
}

/// `lane man --dir DIR`: write every page, all or nothing.
pub fn write_pages(dir: &std::path::Path) -> Result<Outcome, Failure> {
    let pages = pages();
    let paths: Vec<PathBuf> = pages.iter().map(|(n, _)| dir.join(n)).collect();
    let files: Vec<(&std::path::Path, Vec<u8>)> = paths
        .iter()
        .zip(pages)
        .map(|(p, (_, roff))| (p.as_path(), roff))
        .collect();
    crate::fsutil::write_all_atomic(&files).map_err(|(p, e)| ManualError::Write {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    Outcome::of(&ManReport {
        dir: dir.display().to_string(),
        files: paths.iter().map(|p| p.display().to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_page_and_lane_1_lists_them() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["lane.1", "lane-plan.1", "lane-promote.1", "lane-verify.1"] {
            assert!(names.contains(&want), "{names:?}");
        }
        let top = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(top.contains(".TH lane 1"), "{top}");
        assert!(top.contains("promote"), "{top}");
        let plan = String::from_utf8(page(Some("plan")).unwrap()).unwrap();
        assert!(plan.contains(".TH lane-plan 1"), "{plan}");
        assert!(
            plan.contains("LANE_COMMIT"),
            "the env form is documented: {plan}"
        );
        assert!(page(Some("nope")).is_err());
    }
}
