//! Untrusted input never becomes a git option or a program (docs/security.md, class 1).
//!
//! Every entry point that takes a git remote, ref or commit — deploy.json's `sourceRepo` and
//! `gitopsRepo`, and `--gitops-remote`, `--gitops-ref` and `--commit` on plan, render, verify and
//! promote, and the shipped prepare-source step — is given an option-shaped value and an
//! `ext::` remote whose command would create a marker file. The command must exit 1 and the
//! marker must not exist: nothing ran.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::gitrepo::TestRepo;
use common::promote::{all_images, deploy_json, error_doc_text, publish_file, source_repo};
use lane::output::ErrorDocument;
use lane::validate::ValidateReport;
use serde_json::Value;

/// Hostile remotes: each would run `touch <marker>` if git read it as an option or used the
/// `ext::` transport helper.
fn hostile_remotes(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("--upload-pack=touch${{IFS}}{m};false"),
        format!("--upload-pack=touch {m}"),
        format!("ext::sh -c touch% {m}"),
        format!("ext::touch%{m}"),
        format!("fd::3,touch{m}"),
        format!("-oProxyCommand=touch {m}:r"),
        format!("ssh://-oProxyCommand=touch%20{m}/r"),
    ]
}

struct Fixture {
    _dir: tempfile::TempDir,
    marker: PathBuf,
    repo: TestRepo,
    commit: String,
    publish: PathBuf,
}

fn fixture() -> Fixture {
    let dir = common::tempdir();
    let marker = dir.path().join("marker");
    let deploy = deploy_json(0);
    let repo = source_repo(&deploy);
    let commit = repo.head();
    let publish_dir = dir.path().join("publish");
    std::fs::create_dir_all(&publish_dir).unwrap();
    let publish = publish_file(
        &publish_dir,
        "images.json",
        &commit,
        &all_images(&deploy, 3),
    );
    Fixture {
        _dir: dir,
        marker,
        repo,
        commit,
        publish,
    }
}

/// Run a command that must be refused (exit 1) before git runs anything.
fn refused_run(f: &Fixture, what: &str, args: &[&str]) -> common::Run {
    let run = common::lane(f.repo.path(), args);
    assert_eq!(
        run.code, 1,
        "{what}: exit {} (want 1)\nstdout: {}\nstderr: {}",
        run.code, run.stdout, run.stderr
    );
    assert!(
        !f.marker.exists(),
        "{what}: the marker exists: git ran the injected command"
    );
    run
}

/// A refused command whose document is the error document (`ok: false`, checked by
/// `Run::error`).
fn assert_refused(f: &Fixture, what: &str, args: &[&str]) -> ErrorDocument {
    let run = refused_run(f, what, args);
    let doc = run.error();
    assert!(!doc.ok, "{what}: {doc:?}");
    doc
}

#[test]
fn gitops_remote_flag_is_never_an_option_or_a_program() {
    let f = fixture();
    let publish = f.publish.display().to_string();
    for remote in hostile_remotes(&f.marker) {
        let flag = format!("--gitops-remote={remote}");
        for (cmd, args) in [
            ("plan", vec!["plan", flag.as_str()]),
            ("plan --init", vec!["plan", "--init", flag.as_str()]),
            ("render", vec!["render", "--no-write", flag.as_str()]),
            (
                "verify",
                vec!["verify", "--only", "gitops,source", flag.as_str()],
            ),
            (
                "promote",
                vec![
                    "promote",
                    "--init",
                    "--publish",
                    publish.as_str(),
                    flag.as_str(),
                ],
            ),
        ] {
            let doc = assert_refused(&f, &format!("{cmd} {flag}"), &args);
            assert!(
                error_doc_text(&doc).contains("--gitops-remote"),
                "{cmd}: the error names the flag: {doc:?}"
            );
        }
    }
}

#[test]
fn deploy_json_remotes_are_refused_by_validate_and_by_every_step() {
    let base = fixture();
    for field in ["sourceRepo", "gitopsRepo"] {
        for remote in hostile_remotes(&base.marker) {
            let mut deploy = deploy_json(0);
            deploy["lane"][field] = Value::String(remote.clone());
            let f = Fixture {
                repo: source_repo(&deploy),
                ..fixture()
            };
            let commit = f.repo.head();
            let publish_dir = f.publish.parent().unwrap().to_path_buf();
            let publish = publish_file(&publish_dir, "bad.json", &commit, &all_images(&deploy, 3));
            let publish = publish.display().to_string();
            let what = format!("$.lane.{field} = {remote}");
            // validate's refusal is its report of a failed check (`valid: false`), not an
            // error document.
            let doc = refused_run(
                &f,
                &format!("validate {what}"),
                &["validate", "deploy/deploy.json"],
            )
            .document::<ValidateReport>();
            assert!(!doc.ok, "{what}: {doc:?}");
            assert!(!doc.report.valid, "{what}: {doc:?}");
            assert!(
                doc.report
                    .findings
                    .iter()
                    .any(|x| x.path == format!("$.lane.{field}") && x.rule == "repo-url"),
                "validate names the field and the rule: {doc:?}"
            );
            assert_refused(&f, &format!("plan {what}"), &["plan", "--init"]);
            assert_refused(&f, &format!("render {what}"), &["render", "--no-write"]);
            assert_refused(
                &f,
                &format!("promote {what}"),
                &["promote", "--init", "--publish", &publish],
            );
            let _ = &f.commit;
        }
    }
}

#[test]
fn refs_and_revisions_are_never_options() {
    let f = fixture();
    let publish = f.publish.display().to_string();
    let m = f.marker.display().to_string();
    let bad = format!("--upload-pack=touch {m}");
    let gitops_ref = format!("--gitops-ref={bad}");
    let rev = format!("--commit={bad}");
    for (what, args) in [
        ("plan --gitops-ref", vec!["plan", gitops_ref.as_str()]),
        (
            "render --gitops-ref",
            vec!["render", "--no-write", gitops_ref.as_str()],
        ),
        (
            "verify --gitops-ref",
            vec!["verify", "--only", "gitops", gitops_ref.as_str()],
        ),
        ("plan --commit", vec!["plan", "--init", rev.as_str()]),
        (
            "verify --commit",
            vec!["verify", "--only", "source", rev.as_str()],
        ),
        (
            "promote --commit",
            vec!["promote", "--init", "--publish", &publish, rev.as_str()],
        ),
    ] {
        assert_refused(&f, what, &args);
    }
    // Sanity: the fixture itself is accepted, so the refusals above are about the values.
    let ok = common::lane(f.repo.path(), &["validate", "deploy/deploy.json"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(f.commit, f.repo.head());
}

/// The shipped prepare-source step refuses hostile `repo-url`/`gitops-url` params before git
/// runs (a webhook or a hand-made PipelineRun sets them).
#[test]
fn prepare_source_step_refuses_hostile_urls() {
    let text = std::fs::read_to_string(common::repo_root().join("tasks/prepare-source.yaml"))
        .expect("tasks/prepare-source.yaml");
    let task: Value = task_yaml(&text);
    let step = task["spec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "checkout")
        .expect("checkout step")
        .clone();
    let f = fixture();
    let good = common::gitd::file_url(f.repo.path());
    for remote in hostile_remotes(&f.marker) {
        for (repo_url, gitops_url) in [
            (remote.as_str(), good.as_str()),
            (good.as_str(), remote.as_str()),
        ] {
            let ws = common::tempdir();
            let results = ws.path().join("results");
            std::fs::create_dir_all(&results).unwrap();
            let mut cmd = Command::new(common::tools::require("sh"));
            cmd.arg("-c")
                .arg(step["script"].as_str().unwrap())
                .current_dir(ws.path());
            for e in step["env"].as_array().unwrap() {
                let name = e["name"].as_str().unwrap();
                let value = match e["value"].as_str().unwrap() {
                    "$(params.repo-url)" => repo_url.to_string(),
                    "$(params.gitops-url)" => gitops_url.to_string(),
                    "$(params.revision)" => f.commit.clone(),
                    "$(params.init)" => "true".into(),
                    "$(workspaces.ssh-directory.path)" => {
                        ws.path().join("no-ssh").display().to_string()
                    }
                    "$(workspaces.source.path)/src" => ws.path().join("src").display().to_string(),
                    "$(results.commit.path)" => results.join("commit").display().to_string(),
                    "$(results.gitops-commit.path)" => {
                        results.join("gitops-commit").display().to_string()
                    }
                    "$(results.CHAINS-GIT_URL.path)" => {
                        results.join("CHAINS-GIT_URL").display().to_string()
                    }
                    "$(results.CHAINS-GIT_COMMIT.path)" => {
                        results.join("CHAINS-GIT_COMMIT").display().to_string()
                    }
                    v if v.starts_with("$(") => panic!("unexpected substitution {v}"),
                    _ if name.to_ascii_lowercase().ends_with("_proxy") => continue,
                    v => v.to_string(),
                };
                cmd.env(name, value);
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "repo-url={repo_url} gitops-url={gitops_url}: {stderr}"
            );
            assert!(stderr.contains("refusing git remote"), "{stderr}");
            assert!(
                !f.marker.exists(),
                "the marker exists: git ran the injected command"
            );
            assert!(!results.join("commit").exists());
        }
    }
}

fn task_yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("tasks/prepare-source.yaml parses")
}

/// A URL's userinfo never reaches lane's output: `--api-server https://user:pass@host` used
/// to be printed whole in the error (and in the progress line naming the API server).
#[test]
fn url_credentials_are_redacted_in_every_output() {
    let dir = common::tempdir();
    let token = dir.path().join("token");
    std::fs::write(&token, "not-a-real-token\n").unwrap();
    // verify reads the source commit first: give it a repository to read.
    let repo = TestRepo::init("v0.1");
    repo.write("README", "x\n");
    repo.commit("init");
    let deploy = common::shipped_deploy();
    for url in [
        "http://admin:s3cr3t-pa55@127.0.0.1:1",
        "https://admin:s3cr3t-pa55@127.0.0.1:1",
        "https://x-access-token@127.0.0.1:1",
    ] {
        let run = common::lane(
            repo.path(),
            &[
                "verify",
                "--deploy",
                deploy.to_str().unwrap(),
                "--api-server",
                url,
                "--token-file",
                token.to_str().unwrap(),
            ],
        );
        assert_ne!(run.code, 0, "{url}");
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains("s3cr3t-pa55") && !text.contains("x-access-token@"),
                "{url} leaked:\n{text}"
            );
        }
        assert!(
            run.stdout.contains("***@127.0.0.1:1") || run.stderr.contains("***@127.0.0.1:1"),
            "{url}: the URL is still named, without its userinfo:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
}
