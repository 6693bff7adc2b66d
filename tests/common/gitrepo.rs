//! Real git repositories for tests, driven by the git CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run git in `dir` with a fixed identity; panic with stderr on failure; return stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Lane Test")
        .env("GIT_AUTHOR_EMAIL", "lane-test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Lane Test")
        .env("GIT_COMMITTER_EMAIL", "lane-test@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A work-tree repository in a temp dir.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

impl TestRepo {
    /// `git init` with branch `branch`.
    pub fn init(branch: &str) -> TestRepo {
        let dir = super::tempdir();
        git(dir.path(), &["init", "-q", "-b", branch]);
        git(dir.path(), &["config", "user.name", "Lane Test"]);
        git(
            dir.path(),
            &["config", "user.email", "lane-test@example.invalid"],
        );
        git(dir.path(), &["config", "commit.gpgsign", "false"]);
        TestRepo { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (creating directories).
    pub fn write(&self, rel: &str, content: &str) -> &TestRepo {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Stage everything and commit; returns the full commit id.
    pub fn commit(&self, msg: &str) -> String {
        git(self.path(), &["add", "-A"]);
        git(self.path(), &["commit", "-q", "--allow-empty", "-m", msg]);
        self.head()
    }

    pub fn head(&self) -> String {
        git(self.path(), &["rev-parse", "HEAD"])
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(self.path(), args)
    }
}

/// A bare repository (a `file://` remote).
pub fn bare_repo() -> (tempfile::TempDir, PathBuf) {
    let dir = super::tempdir();
    let path = dir.path().join("remote.git");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "-q", "--bare"]);
    (dir, path)
}
