//! The command-line habits: environment-variable forms of the flags Tekton steps pass, usage
//! errors as JSON documents, completions and the man page, repository root discovery.

use crate::common;

use common::kube::LaneRepos;
use common::{lane, lane_env};
use lane::error::ExitClass;
use lane::manual::ManReport;
use lane::output::Document;
use lane::render::cli::RenderReport;
use lane::validate::ValidateReport;
use lane::verify::{Group, VerifyReport};
use serde_json::Value;

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
    let by_env: Document<RenderReport> = by_env.document();
    assert_eq!(by_flag.document::<RenderReport>(), by_env);
    assert!(by_env.report.summary.unchanged > 0);

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
    let (f, e): (VerifyReport, VerifyReport) = (by_flag.report(), by_env.report());
    assert_eq!(f.checks, e.checks);
    assert_eq!(e.commit, repos.commit);
    assert_eq!(e.groups, [Group::Source]);

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

/// `lane ARGS` in a fresh directory.
fn run(args: &[&str]) -> common::Run {
    let tmp = common::tempdir();
    lane(tmp.path(), args)
}

#[test]
fn a_usage_error_is_one_json_document_with_exit_2() {
    let r = run(&["plan", "--bogus"]);
    r.assert_code(2);
    let doc = r.error();
    assert_eq!(doc.command, "plan");
    assert!(!doc.ok);
    assert_eq!(doc.exit_code, 2);
    assert_eq!(doc.error.class, ExitClass::Usage);
    // details are free-form per error: read raw.
    assert_eq!(
        doc.error.details.as_ref().unwrap()["kind"],
        "unknown-argument"
    );
    assert!(
        doc.error.message.contains("unexpected argument '--bogus'"),
        "{doc:?}"
    );
    assert!(
        doc.error
            .hint
            .as_deref()
            .unwrap()
            .contains("lane plan --help"),
        "{doc:?}"
    );
    // clap's own rendering, for the person at the terminal, is on stderr.
    assert!(r.stderr.contains("Usage: lane plan"), "{}", r.stderr);

    // Conflicting flags, a bad value and no subcommand at all: the same shape.
    for args in [
        &["plan", "--catalog", "c.json", "--init"][..],
        &["verify", "--wait", "soon"][..],
        &["render", "--output", "yaml", "--no-write"][..],
        &[][..],
        &["nosuch"][..],
    ] {
        let r = run(args);
        r.assert_code(2);
        let doc = r.error();
        assert_eq!(doc.exit_code, 2, "{args:?}");
        assert_eq!(doc.error.class, ExitClass::Usage, "{args:?}");
        assert!(!doc.error.message.is_empty());
    }
    assert_eq!(run(&[]).error().command, "lane");
    assert_eq!(run(&["--quiet", "verify", "--wait", "soon"]).stderr, "");
}

#[test]
fn a_usage_error_never_shows_url_credentials() {
    let r = run(&["verify", "--wait", "https://robot:s3cr3t@example.invalid/x"]);
    r.assert_code(2);
    assert!(!r.stdout.contains("s3cr3t"), "{}", r.stdout);
    assert!(!r.stderr.contains("s3cr3t"), "{}", r.stderr);
    assert!(r.error().error.message.contains("--wait"));
}

#[test]
fn help_and_version_print_normally_with_exit_0() {
    let h = run(&["--help"]);
    h.assert_code(0);
    assert!(h.stdout.contains("Usage: lane"), "{}", h.stdout);
    assert!(h.stdout.contains("Exit codes:"), "{}", h.stdout);
    let h = run(&["promote", "--help"]);
    h.assert_code(0);
    assert!(h.stdout.contains("--gitops-remote"), "{}", h.stdout);
    let v = run(&["--version"]);
    v.assert_code(0);
    assert_eq!(
        v.stdout.trim(),
        format!("lane {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn in_text_mode_an_error_is_printed_once() {
    let missing = "/nonexistent/lane-test/deploy.json";
    // A failure of the command itself.
    let r = run(&["--output", "text", "validate", missing]);
    assert_ne!(r.code, 0);
    let both = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(both.matches("error:").count(), 1, "{both}");
    assert!(r.stdout.contains("error:"), "{}", r.stdout);
    // A usage error.
    let r = run(&["--output", "text", "plan", "--bogus"]);
    r.assert_code(2);
    let both = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(both.matches("unexpected argument").count(), 1, "{both}");
    // With JSON, stdout is the document and stderr the one readable line.
    let r = run(&["validate", missing]);
    assert_ne!(r.code, 0);
    assert!(!r.error().ok);
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
}

/// `bash -c SCRIPT` with the lane binary's completion script loaded.
fn bash_completion(words: &str) -> String {
    let script = format!(
        "source <('{bin}' completions bash) || exit 9\n\
         complete -p lane || exit 8\n\
         COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}\n\
         _lane lane \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bin = common::lane_bin().display()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &script])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let out = bash_completion("lane pro");
    assert!(out.starts_with("complete "), "{out}");
    let replies: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(replies, ["promote"], "{out}");
    let replies: Vec<String> = bash_completion("lane verify --on")
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    assert_eq!(replies, ["--only"]);
}

#[test]
fn zsh_and_fish_load_their_completions() {
    let tmp = common::tempdir();
    let zsh = tmp.path().join("_lane");
    let r = lane(tmp.path(), &["completions", "zsh"]);
    r.assert_code(0);
    std::fs::write(&zsh, &r.stdout).unwrap();
    let out = std::process::Command::new(common::tools::require("zsh"))
        .args([
            "-fc",
            "autoload -U compinit; compinit -u; source \"$1\"; whence -w _lane",
        ])
        .arg("zsh")
        .arg(&zsh)
        .output()
        .expect("zsh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "_lane: function"
    );

    let r = lane(tmp.path(), &["completions", "fish"]);
    r.assert_code(0);
    let fish = tmp.path().join("lane.fish");
    std::fs::write(&fish, &r.stdout).unwrap();
    let out = std::process::Command::new(common::tools::require("fish"))
        .arg("-c")
        .arg(format!(
            "source '{}'; complete -C 'lane pro'",
            fish.display()
        ))
        .output()
        .expect("fish");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("promote\t"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");

    run(&["completions", "tcsh"]).assert_code(2);
}

#[test]
fn man_pages_render_with_groff_without_warnings() {
    let tmp = common::tempdir();
    let groff = common::tools::require("groff");
    let check = |name: &str, roff: &[u8]| -> String {
        let f = tmp.path().join(name);
        std::fs::write(&f, roff).unwrap();
        let out = std::process::Command::new(&groff)
            .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
            .arg(&f)
            .output()
            .expect("groff");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{name}: groff warnings"
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let r = run(&["man"]);
    r.assert_code(0);
    let page = check("lane.1", r.stdout.as_bytes());
    for want in [
        "NAME",
        "SYNOPSIS",
        "plan",
        "promote",
        "verify",
        "completions",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    let r = run(&["man", "promote"]);
    r.assert_code(0);
    let page = check("lane-promote.1", r.stdout.as_bytes());
    assert!(page.contains("--gitops-remote"), "{page}");
    assert!(page.contains("LANE_GITOPS_REMOTE"), "{page}");

    // --dir: every page, listed in the JSON document.
    let dir = tmp.path().join("man1");
    let r = lane(tmp.path(), &["man", "--dir", dir.to_str().unwrap()]);
    r.assert_code(0);
    let files = r.report::<ManReport>().files;
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let p = std::path::PathBuf::from(f);
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        check(&format!("check-{name}"), &std::fs::read(&p).unwrap());
    }
    assert!(dir.join("lane-plan.1").is_file());
    run(&["man", "nosuch"]).assert_code(2);
}

#[test]
fn render_exit_code_gates_on_a_change_of_the_gitops_branch() {
    let mut repos = LaneRepos::new();
    let repo = repos.repo_arg();
    let deploy = repos
        .source
        .path()
        .join("deploy/deploy.json")
        .display()
        .to_string();
    let tmp = common::tempdir();
    let gate = |extra: &[&str]| {
        let mut args = vec![
            "render",
            "--no-write",
            "--exit-code",
            "--deploy",
            &deploy,
            "--repo",
            &repo,
        ];
        args.extend_from_slice(extra);
        lane(tmp.path(), &args)
    };
    // The branch already carries exactly this render: 0.
    let same = gate(&[]);
    same.assert_code(0);
    let same: Document<RenderReport> = same.document();
    assert!(same.ok);
    assert!(!same.report.changed);

    // Someone edited the rendered tree on the branch: the render would change it back.
    let runtime = repos.runtime_path.clone();
    let edited = repos
        .tree
        .keys()
        .find(|f| *f != "kustomization.yaml")
        .unwrap()
        .clone();
    repos.gitops_commit(|dir| {
        std::fs::write(dir.join(&runtime).join(&edited), "hand edit\n").unwrap();
    });
    let differs = gate(&[]);
    differs.assert_code(1);
    let doc: Document<RenderReport> = differs.document();
    assert!(!doc.ok);
    assert!(doc.report.changed);
    assert_eq!(doc.report.summary.changed, 1);
    // That the serialized document has no `error` key is the point: read raw.
    let raw = differs.json();
    assert!(
        raw.get("error").is_none(),
        "a change is not an error: {raw}"
    );
    let text = gate(&["--output", "text"]);
    text.assert_code(1);
    assert!(text.stdout.contains("would change"), "{}", text.stdout);

    // Without --exit-code the same dry-run succeeds; --exit-code needs --no-write.
    lane(
        tmp.path(),
        &["render", "--no-write", "--deploy", &deploy, "--repo", &repo],
    )
    .assert_code(0);
    let out = tmp.path().join("out").display().to_string();
    let r = lane(
        tmp.path(),
        &[
            "render",
            "--exit-code",
            "--out",
            &out,
            "--deploy",
            &deploy,
            "--repo",
            &repo,
        ],
    );
    r.assert_code(2);
    assert_eq!(r.error().error.class, ExitClass::Usage);
}

#[test]
fn commands_find_the_project_from_a_subdirectory() {
    let repos = LaneRepos::new();
    let root = repos.source.path().canonicalize().unwrap();
    let sub = root.join("docs/reference");
    assert!(sub.is_dir());

    // validate: the default deploy/deploy.json is the project's.
    let at_root = lane(&root, &["validate"]);
    at_root.assert_code(0);
    let below = lane(&sub, &["validate"]);
    below.assert_code(0);
    let (below, at_root): (ValidateReport, ValidateReport) = (below.report(), at_root.report());
    assert_eq!(
        below.file,
        root.join("deploy/deploy.json").display().to_string()
    );
    assert_eq!(below.names, at_root.names);

    // render --no-write: the repository and deploy.json of the project.
    let at_root = lane(&root, &["render", "--no-write"]);
    at_root.assert_code(0);
    let below = lane(&sub, &["render", "--no-write"]);
    below.assert_code(0);
    let (below, at_root): (RenderReport, RenderReport) = (below.report(), at_root.report());
    assert_eq!(below.files, at_root.files);
    assert_eq!(below.against.gitops, at_root.against.gitops);

    // verify --only source: the repository is found, the commit is its HEAD.
    let below = lane(&sub, &["verify", "--only", "source"]);
    assert_eq!(below.report::<VerifyReport>().commit, repos.commit);

    // A path given explicitly is relative to where the command runs, as written.
    let explicit = lane(&sub, &["render", "--no-write", "--repo", "."]);
    explicit.assert_code(3);
    assert!(
        explicit.error().error.message.contains("git repository"),
        "{}",
        explicit.stdout
    );
    // Outside any repository nothing is looked for.
    let outside = common::tempdir();
    let r = lane(outside.path(), &["validate"]);
    assert_ne!(r.code, 0);
    assert!(r.error().error.message.contains("deploy/deploy.json"));
}

/// The flags the generated Tekton Tasks pass (templates/tekton/task-*.yaml), per subcommand.
const STEP_FLAGS: &[(&str, &[&str])] = &[
    ("validate", &["kind", "repo-root", "ci-digest", "output"]),
    (
        "plan",
        &[
            "repo",
            "commit",
            "out",
            "init",
            "force",
            "result-affected",
            "result-counts",
            "result-commit",
        ],
    ),
    (
        "publish",
        &[
            "plan",
            "deploy",
            "service",
            "decisions",
            "out",
            "allow-insecure",
            "docker-config",
            "result-image-url",
            "result-image-digest",
        ],
    ),
    ("render", &["no-write", "deploy", "repo", "output"]),
    (
        "promote",
        &[
            "repo",
            "commit",
            "publish",
            "gitops-remote",
            "pipeline-run",
            "init",
            "result-commit",
            "result-outcome",
            "signing-key",
        ],
    ),
    (
        "verify",
        &[
            "only",
            "skip",
            "repo",
            "commit",
            "gitops-remote",
            "pipeline-run",
            "wait",
            "allowed-signers",
        ],
    ),
];

#[test]
fn every_flag_a_tekton_step_passes_has_its_lane_variable() {
    use clap::CommandFactory;
    let cli = lane::cli::Cli::command();
    for (sub, flags) in STEP_FLAGS {
        let cmd = cli.find_subcommand(sub).unwrap();
        for flag in *flags {
            let arg = cmd
                .get_arguments()
                .chain(cli.get_arguments())
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("lane {sub} has no --{flag}"));
            let want = format!("LANE_{}", flag.to_ascii_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().map(|e| e.to_string_lossy().into_owned()),
                Some(want),
                "lane {sub} --{flag}"
            );
        }
    }
    // Each flag the Tasks pass is really in them.
    let dir = common::tempdir();
    let out = dir.path().display().to_string();
    let deploy = common::shipped_deploy().display().to_string();
    lane(
        dir.path(),
        &["generate", "--deploy", &deploy, "--out", &out],
    )
    .assert_code(0);
    let mut tasks = String::new();
    for e in std::fs::read_dir(dir.path().join("tasks")).unwrap() {
        tasks.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    for (_, flags) in STEP_FLAGS {
        for flag in *flags {
            assert!(
                tasks.contains(&format!("--{flag}")),
                "--{flag} is not in the Tasks"
            );
        }
    }
}
