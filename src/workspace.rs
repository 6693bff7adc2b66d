//! Finding the project from a subdirectory, like git: a command run below the repository
//! root reads the same default files (`deploy/deploy.json`, the repository `.`) as at the
//! root. Only defaults move: a path given on the command line or in a `LANE_*` variable is
//! taken as written, relative to the current directory.

use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::cli::Command;

/// Directories walked up at most (a loop of bind mounts must not keep lane climbing).
const MAX_DEPTH: usize = 64;

/// The nearest directory at or above `start` holding `.git` (a directory, or the file of a
/// linked worktree or submodule).
pub fn git_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .take(MAX_DEPTH)
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// The nearest directory from `start` up to `root` (both included) that holds `rel`.
fn nearest_holding(start: &Path, root: &Path, rel: &Path) -> Option<PathBuf> {
    for d in start.ancestors().take(MAX_DEPTH) {
        if d.join(rel).exists() {
            return Some(d.to_path_buf());
        }
        if d == root {
            break;
        }
    }
    None
}

/// Where defaulted paths resolve from the current directory `cwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The repository root, when `cwd` is below it (not at it).
    pub repo: Option<PathBuf>,
    /// The directory holding `deploy/deploy.json`, when that is not `cwd`.
    pub project: Option<PathBuf>,
}

impl Defaults {
    pub fn find(cwd: &Path) -> Defaults {
        let Some(root) = git_root(cwd) else {
            return Defaults {
                repo: None,
                project: None,
            };
        };
        let project = nearest_holding(cwd, &root, Path::new("deploy/deploy.json"));
        Defaults {
            repo: (root != cwd).then_some(root),
            project: project.filter(|p| p != cwd),
        }
    }
}

fn defaulted(m: &ArgMatches, id: &str) -> bool {
    m.try_contains_id(id).unwrap_or(false) && m.value_source(id) == Some(ValueSource::DefaultValue)
}

/// Move the defaulted paths of the parsed command to the project found from the current
/// directory. `matches` are the matches `command` was parsed from.
pub fn rebase_defaults(command: &mut Command, matches: &ArgMatches) {
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    let found = Defaults::find(&cwd);
    if found.repo.is_none() && found.project.is_none() {
        return;
    }
    let Some((_, m)) = matches.subcommand() else {
        return;
    };
    let repo = |path: &mut PathBuf| {
        if let Some(root) = &found.repo {
            if defaulted(m, "repo") {
                *path = root.clone();
            }
        }
    };
    let project = |id: &str, path: &mut PathBuf| -> bool {
        match &found.project {
            Some(dir) if defaulted(m, id) => {
                *path = dir.join(&*path);
                true
            }
            _ => false,
        }
    };
    match command {
        Command::Validate(a) => {
            project("file", &mut a.file);
        }
        Command::Plan(a) => repo(&mut a.repo),
        Command::Render(a) => {
            repo(&mut a.repo);
            project("deploy", &mut a.deploy);
        }
        Command::Promote(a) => repo(&mut a.repo),
        Command::Verify(a) => repo(&mut a.repo),
        Command::Rollback(a) => repo(&mut a.repo),
        Command::Status(a) => repo(&mut a.repo),
        Command::Generate(a) => {
            // The generated files go beside the deploy.json they come from.
            let moved = project("deploy", &mut a.deploy);
            if let Some(dir) = found
                .project
                .as_ref()
                .filter(|_| moved && defaulted(m, "out"))
            {
                a.out = dir.clone();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_and_the_project_are_found_upwards() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("deploy")).unwrap();
        std::fs::write(root.join("deploy/deploy.json"), "{}").unwrap();
        let sub = root.join("apps/web/src");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(
            Defaults::find(&sub),
            Defaults {
                repo: Some(root.clone()),
                project: Some(root.clone()),
            }
        );
        // At the root nothing moves.
        assert_eq!(
            Defaults::find(&root),
            Defaults {
                repo: None,
                project: None
            }
        );
        // A project of its own below the root (a monorepo) is found first.
        let nested = root.join("apps/web");
        std::fs::create_dir_all(nested.join("deploy")).unwrap();
        std::fs::write(nested.join("deploy/deploy.json"), "{}").unwrap();
        assert_eq!(Defaults::find(&sub).project, Some(nested));
        // Outside any repository nothing moves.
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(Defaults::find(outside.path()).repo, None);
    }
}
