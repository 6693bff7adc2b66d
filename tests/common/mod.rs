//! Shared test support: run the `lane` binary, build real git repositories, start a real
//! registry, find the validators. Each area keeps its own helpers in a submodule here.
#![allow(dead_code)]

pub mod gitd;
pub mod gitrepo;
pub mod kube;
pub mod oci;
pub mod plan;
pub mod promote;
pub mod realcluster;
pub mod registry;
pub mod render;
pub mod sshd;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fields of `/proc/<pid>/stat` from the state on (field 3 of proc(5) is index 0: state,
/// then parent, process group, …), or `None` once the process is gone. The command name
/// (field 2) is in parentheses and may hold spaces, so the fields are counted after it.
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Result of one `lane` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// stdout parsed as the one JSON document every subcommand prints.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// stdout as the typed document of a run that produced its report (exit 0, or 1 for a
    /// failed check): `command`, `ok` and the command's report type. A field renamed in the
    /// report type breaks the build of the tests that read it, not some assertion.
    pub fn document<R: serde::de::DeserializeOwned>(&self) -> lane::output::Document<R> {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not the {} document ({e}):\n{}\nstderr:\n{}",
                std::any::type_name::<R>(),
                self.stdout,
                self.stderr
            )
        })
    }

    /// The command's report (see [`Run::document`]).
    pub fn report<R: serde::de::DeserializeOwned>(&self) -> R {
        self.document().report
    }

    /// stdout as the error document of a failed command (`ok: false`, exit code, class,
    /// message, hint, details).
    pub fn error(&self) -> lane::output::ErrorDocument {
        let doc: lane::output::ErrorDocument =
            serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
                panic!(
                    "stdout is not an error document ({e}):\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            });
        assert!(!doc.ok, "an error document says ok: false");
        assert_eq!(
            doc.exit_code, self.code,
            "exitCode is the process's exit code"
        );
        doc
    }

    /// The error's message and hint as one line, for `contains` checks.
    pub fn error_text(&self) -> String {
        let e = self.error().error;
        format!("{} {}", e.message, e.hint.unwrap_or_default())
    }

    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Path of the built `lane` binary.
pub fn lane_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lane"))
}

/// Run `lane <args>` in `dir` with extra env vars.
pub fn lane_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(lane_bin());
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("run lane"))
}

/// Run `lane <args>` in `dir`.
pub fn lane(dir: &Path, args: &[&str]) -> Run {
    lane_env(dir, args, &[])
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/schemas` beside the repository (CI always has it).
pub fn shared_schemas() -> PathBuf {
    let p = repo_root().join("../shared/schemas");
    assert!(
        p.is_dir(),
        "{} is missing: the upstream schemas are read from ../shared (see README)",
        p.display()
    );
    p
}

/// The shipped deploy.json.
pub fn shipped_deploy() -> PathBuf {
    repo_root().join("deploy/deploy.json")
}

/// A fresh temporary directory that is removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lane-test-")
        .tempdir()
        .expect("tempdir")
}

/// A catalog JSON for the shipped lane with the given (service, digest-hex-char) pairs.
pub fn test_catalog(source_commit: &str, services: &[(&str, &str, char)]) -> serde_json::Value {
    let mut entries = serde_json::Map::new();
    for (id, kind, c) in services {
        entries.insert(
            id.to_string(),
            serde_json::json!({
                "component": {"service": id, "kind": kind},
                "imageRepository": format!("127.0.0.1:5000/agentrun/{id}"),
                "tag": source_commit,
                "digest": format!("sha256:{}", c.to_string().repeat(64)),
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "status": "published",
                "sourceCommit": source_commit,
                "fingerprint": format!("sha256:{}", "f".repeat(64)),
                "publishedAt": "2026-11-01T00:00:00Z",
                "updatedAt": "2026-11-01T00:00:00Z"
            }),
        );
    }
    serde_json::json!({
        "schemaVersion": 1,
        "lane": "v0.1",
        "sourceRepo": "git@github.com:pikasTech/agentrun.git",
        "sourceBranch": "v0.1",
        "gitopsBranch": "v0.1-gitops",
        "sourceCommit": source_commit,
        "updatedAt": "2026-11-01T00:00:00Z",
        "services": entries
    })
}
