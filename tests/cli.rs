//! The command-line habits: environment-variable forms of the flags Tekton steps pass, usage
//! errors as JSON documents, completions and the man page, repository root discovery.

mod common;

use common::kube::LaneRepos;
use common::{lane, lane_env};
use serde_json::Value;

/// Each run's document with fields that differ between two identical runs removed.
fn stable(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("durationMs");
        m.remove("elapsedMs");
    }
    v
}

#[test]
fn env_forms_equal_the_flags_for_render_and_verify() {
    let repos = LaneRepos::new();
    let dir = repos.source.path();
    let repo = repos.repo_arg();
    let deploy = dir.join("deploy/deploy.json").display().to_string();
    let tmp = common::tempdir();

    // render --no-write --deploy --repo, as the validate Task's step passes them.
    let by_flag = lane(
        tmp.path(),
        &["render", "--no-write", "--deploy", &deploy, "--repo", &repo],
    );
    by_flag.assert_code(0);
    let by_env = lane_env(
        tmp.path(),
        &["render"],
        &[
            ("LANE_NO_WRITE", "true"),
            ("LANE_DEPLOY", &deploy),
            ("LANE_REPO", &repo),
        ],
    );
    by_env.assert_code(0);
    assert_eq!(stable(by_flag.json()), stable(by_env.json()));
    assert_eq!(
        by_env.json()["summary"]["unchanged"]
            .as_u64()
            .map(|n| n > 0),
        Some(true)
    );

    // --output text through LANE_OUTPUT.
    let text = lane_env(
        tmp.path(),
        &["render", "--no-write", "--deploy", &deploy, "--repo", &repo],
        &[("LANE_OUTPUT", "text")],
    );
    text.assert_code(0);
    assert!(
        serde_json::from_str::<Value>(&text.stdout).is_err(),
        "{}",
        text.stdout
    );

    // verify --only source --repo --commit.
    let by_flag = lane(
        tmp.path(),
        &[
            "verify",
            "--only",
            "source",
            "--repo",
            &repo,
            "--commit",
            &repos.commit,
        ],
    );
    let by_env = lane_env(
        tmp.path(),
        &["verify"],
        &[
            ("LANE_ONLY", "source"),
            ("LANE_REPO", &repo),
            ("LANE_COMMIT", &repos.commit),
        ],
    );
    assert_eq!(
        by_flag.code, by_env.code,
        "{}\n{}",
        by_flag.stdout, by_env.stdout
    );
    let (f, e) = (stable(by_flag.json()), stable(by_env.json()));
    assert_eq!(f["checks"], e["checks"]);
    assert_eq!(e["commit"], Value::from(repos.commit.clone()));
    assert_eq!(e["groups"], serde_json::json!(["source"]));

    // A flag on the command line wins over its environment form.
    let wrong = lane_env(
        tmp.path(),
        &["render", "--no-write", "--deploy", &deploy, "--repo", &repo],
        &[("LANE_DEPLOY", "/nonexistent/deploy.json")],
    );
    wrong.assert_code(0);
}

#[test]
fn help_never_shows_a_credential_from_the_environment() {
    let tmp = common::tempdir();
    let url = "https://robot:s3cr3t-t0ken@git.example.invalid/gitops.git";
    for cmd in ["plan", "render", "promote", "verify"] {
        let r = lane_env(tmp.path(), &[cmd, "--help"], &[("LANE_GITOPS_REMOTE", url)]);
        r.assert_code(0);
        assert!(
            r.stdout.contains("LANE_GITOPS_REMOTE"),
            "{cmd}: {}",
            r.stdout
        );
        assert!(
            !r.stdout.contains("s3cr3t"),
            "{cmd} --help shows the secret"
        );
        assert!(!r.stderr.contains("s3cr3t"));
    }
    // A non-secret value is shown, like clap does for every other flag.
    let r = lane_env(
        tmp.path(),
        &["plan", "--help"],
        &[("LANE_COMMIT", "v0.1.0")],
    );
    assert!(r.stdout.contains("LANE_COMMIT=v0.1.0"), "{}", r.stdout);
}
