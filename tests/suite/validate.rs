//! `lane validate` against the shipped lane and the bad corpus (tests/corpus/expect.json),
//! and the published JSON Schemas (via check-jsonschema) against the same files.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{lane, repo_root, Run};
use lane::model::Finding;
use lane::validate::{Kind, ValidateReport};
use serde_json::{json, Value};

/// The corpus manifest (tests/corpus/expect.json) and check-jsonschema's report are the
/// tests' own data and another tool's output, not lane documents: they are read raw.
fn manifest() -> Value {
    let p = repo_root().join("tests/corpus/expect.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn cases() -> Vec<Value> {
    manifest()["cases"].as_array().unwrap().clone()
}

fn corpus_file(case: &Value) -> PathBuf {
    repo_root()
        .join("tests/corpus")
        .join(case["file"].as_str().unwrap())
}

fn schema_for(kind: &str) -> PathBuf {
    repo_root().join(match kind {
        "deploy" => "deploy/deploy.schema.json",
        "catalog" => "deploy/artifact-catalog.schema.json",
        k => panic!("unknown kind {k}"),
    })
}

/// lane's verdict on one file: exit 1, a finding with `path` and `rule`, no secret echoed.
fn assert_lane_rejects(run: &Run, what: &str, path: &str, rule: &str, secret: Option<&str>) {
    assert_eq!(
        run.code, 1,
        "{what}: exit {} (want 1)\nstdout:\n{}\nstderr:\n{}",
        run.code, run.stdout, run.stderr
    );
    let doc: ValidateReport = run.report();
    assert!(!doc.valid, "{what}");
    let findings = &doc.findings;
    assert!(
        findings.iter().any(|f| f.path == path && f.rule == rule),
        "{what}: no finding at {path} with rule {rule}; got {}",
        serde_json::to_string_pretty(findings).unwrap()
    );
    for f in findings {
        assert!(
            !f.message.is_empty(),
            "{what}: every finding says what is wrong"
        );
    }
    if let Some(s) = secret {
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "{what}: the secret value leaked into lane's output"
        );
    }
}

fn validate(file: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["validate".to_string(), file.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lane(&repo_root(), &args)
}

/// check-jsonschema's JSON report for some instance files.
fn check_jsonschema(schema: &Path, files: &[PathBuf]) -> Value {
    let cjs = common::tools::require("check-jsonschema");
    let out = Command::new(cjs)
        .arg("--schemafile")
        .arg(schema)
        .args(["--output-format", "json"])
        .args(files)
        .output()
        .expect("run check-jsonschema");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check-jsonschema printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn errors_for(report: &Value, file: &Path) -> (Vec<Value>, bool) {
    let name = file.display().to_string();
    let none = vec![];
    let errs = report["errors"]
        .as_array()
        .unwrap_or(&none)
        .iter()
        .filter(|e| e["filename"] == name.as_str())
        .cloned()
        .collect();
    let parse = report["parse_errors"]
        .as_array()
        .unwrap_or(&none)
        .iter()
        .any(|e| e["filename"] == name.as_str());
    (errs, parse)
}

/// The schema's verdict matches the manifest: rejected at `schema.path` (message containing
/// `schema.contains`), a parse error, or — for lane-only rules — accepted.
fn assert_schema_verdict(report: &Value, file: &Path, case: &Value) {
    let what = file.display();
    let (errs, parse) = errors_for(report, file);
    let Some(want) = case.get("schema") else {
        assert!(
            case["laneOnly"].as_str().is_some_and(|r| !r.is_empty()),
            "{what}: a case without `schema` must say why in `laneOnly`"
        );
        assert!(
            errs.is_empty() && !parse,
            "{what}: marked lane-only but the schema rejects it (record where): {errs:?}"
        );
        return;
    };
    if want["parseError"] == true {
        assert!(parse, "{what}: check-jsonschema should fail to parse it");
        return;
    }
    let path = want["path"].as_str().unwrap();
    let contains = want["contains"].as_str().unwrap_or("");
    assert!(
        errs.iter()
            .any(|e| e["path"] == path
                && e["message"].as_str().unwrap_or_default().contains(contains)),
        "{what}: check-jsonschema does not reject at {path} ({contains:?}); it says {}",
        serde_json::to_string_pretty(&errs).unwrap()
    );
}

#[test]
fn corpus_is_complete() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} bad files", cases.len());
    let listed: BTreeSet<String> = cases
        .iter()
        .map(|c| c["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), cases.len(), "a file is listed twice");
    let mut on_disk = BTreeSet::new();
    for kind in ["deploy", "catalog"] {
        for e in std::fs::read_dir(repo_root().join("tests/corpus").join(kind)).unwrap() {
            on_disk.insert(format!(
                "{kind}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    assert_eq!(
        listed, on_disk,
        "every corpus file has exactly one manifest entry"
    );
    let m = manifest();
    let rules: BTreeSet<&str> = cases
        .iter()
        .chain(m["generated"].as_array().unwrap())
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    for r in [
        "forbidden-image-identity",
        "forbidden-publish-state",
        "forbidden-run-id",
        "forbidden-revision",
        "forbidden-generated-manifest",
        "forbidden-credential",
        "secret-literal",
        "secret-value",
        "dns1123-label",
        "repo-path",
        "path-escapes",
        "schema-version",
        "lane-version",
        "wrong-type",
        "unknown-field",
        "json-syntax",
        "too-large",
        "duplicate",
        "unknown-service-account",
        "lane-mismatch",
        "digest",
        "commit-sha",
        "duplicate-key",
        "control-character",
        "too-long",
        "too-many",
        "catalog-in-runtime",
        "legacy-target",
        "tag-is-source-commit",
        "timestamp",
        "timestamp-order",
    ] {
        assert!(rules.contains(r), "the corpus has no case for rule {r}");
    }
}

#[test]
fn lane_rejects_every_corpus_file_naming_path_and_rule() {
    for case in cases() {
        let file = corpus_file(&case);
        let extra: Vec<&str> = case["args"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        let run = validate(&file, &extra);
        let what = case["file"].as_str().unwrap();
        let secret = case["secret"].as_str();
        assert_lane_rejects(
            &run,
            what,
            case["path"].as_str().unwrap(),
            case["rule"].as_str().unwrap(),
            secret,
        );
        if let Some(secret) = secret {
            let mut text_args = extra.clone();
            text_args.extend(["--output", "text"]);
            let text = validate(&file, &text_args);
            assert_eq!(text.code, 1, "{what} (text)");
            assert!(
                text.stdout.contains(case["rule"].as_str().unwrap()),
                "{what}: the text view names the rule:\n{}",
                text.stdout
            );
            assert!(
                !text.stdout.contains(secret) && !text.stderr.contains(secret),
                "{what}: the secret leaked into the text view"
            );
        }
    }
}

#[test]
fn schemas_reject_the_corpus_at_the_same_places() {
    let cases = cases();
    for kind in ["deploy", "catalog"] {
        let mine: Vec<&Value> = cases.iter().filter(|c| c["kind"] == kind).collect();
        let files: Vec<PathBuf> = mine.iter().map(|c| corpus_file(c)).collect();
        let report = check_jsonschema(&schema_for(kind), &files);
        for (case, file) in mine.iter().zip(&files) {
            assert_schema_verdict(&report, file, case);
        }
    }
}

#[test]
fn a_catalog_of_another_lane_needs_the_lane_to_be_rejected() {
    let file = repo_root().join("tests/corpus/catalog/other-lane.json");
    // On its own it is a well-formed catalog of lane v0.2 …
    validate(&file, &[]).assert_code(0);
    // … and the v0.1 lane refuses it, naming every field that differs.
    let run = validate(&file, &["--deploy", "deploy/deploy.json"]);
    assert_lane_rejects(&run, "other-lane", "$.gitopsBranch", "lane-mismatch", None);
    assert_eq!(
        run.report::<ValidateReport>().names.unwrap().version,
        "v0.1"
    );
}

/// `--deploy` names a catalog's lane; given with a deploy.json it is refused (exit 2), not
/// ignored: the file meant (here a broken one) would never have been read, and the default
/// deploy/deploy.json reported valid in its place. `--explain` is for a deploy.json only.
#[test]
fn a_flag_of_another_kind_of_file_is_a_usage_error_not_ignored() {
    let broken = repo_root().join("tests/corpus/deploy/dup-key-replicas.json");
    let run = lane(
        &repo_root(),
        &["validate", "--deploy", broken.to_str().unwrap()],
    );
    let err = run.error();
    assert_eq!(err.exit_code, 2, "{}", run.stdout);
    assert_eq!(err.error.class, lane::error::ExitClass::Usage);
    assert!(
        err.error
            .message
            .contains("--deploy does not apply to deploy/deploy.json"),
        "{}",
        err.error.message
    );
    assert!(err.error.hint.unwrap().contains("pass it as FILE"));
    // The file meant, passed as FILE, is checked and rejected.
    validate(&broken, &[]).assert_code(1);

    let catalog = repo_root().join("tests/corpus/catalog-good.json");
    let run = validate(&catalog, &["--explain"]);
    let err = run.error();
    assert_eq!(err.exit_code, 2);
    assert!(
        err.error.message.contains("an artifact catalog"),
        "{}",
        err.error.message
    );
    // The flags used as documented still work.
    validate(&catalog, &["--deploy", "deploy/deploy.json"]).assert_code(0);
    validate(&repo_root().join("deploy/deploy.json"), &["--explain"]).assert_code(0);
}

#[test]
fn a_build_path_that_leaves_the_repo_through_a_symlink_is_rejected() {
    let repo = common::tempdir();
    let outside = common::tempdir();
    std::fs::write(outside.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let root = repo.path();
    std::fs::create_dir_all(root.join("deploy")).unwrap();
    std::fs::copy(common::shipped_deploy(), root.join("deploy/deploy.json")).unwrap();
    std::fs::create_dir_all(root.join("apps/runner")).unwrap();
    std::fs::write(root.join("apps/runner/Dockerfile"), "FROM scratch\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("apps/mgr")).unwrap();
    let deploy = root.join("deploy/deploy.json");
    let root_s = root.display().to_string();

    let run = validate(&deploy, &["--repo-root", &root_s]);
    assert_lane_rejects(
        &run,
        "symlink-out",
        "$.services[0].build.context",
        "path-escapes",
        None,
    );
    assert_lane_rejects(
        &run,
        "symlink-out",
        "$.services[0].build.dockerfile",
        "path-escapes",
        None,
    );
    // Lane-only: the schema sees a fine relative path (see expect.json `generated`).
    let report = check_jsonschema(&schema_for("deploy"), std::slice::from_ref(&deploy));
    assert_eq!(errors_for(&report, &deploy), (vec![], false));

    // The same tree with a real directory passes: the symlink is what is rejected.
    std::fs::remove_file(root.join("apps/mgr")).unwrap();
    std::fs::create_dir_all(root.join("apps/mgr")).unwrap();
    std::fs::write(root.join("apps/mgr/Dockerfile"), "FROM scratch\n").unwrap();
    validate(&deploy, &["--repo-root", &root_s]).assert_code(0);
    // A missing path is named too.
    std::fs::remove_dir_all(root.join("apps/runner")).unwrap();
    let run = validate(&deploy, &["--repo-root", &root_s]);
    assert_lane_rejects(
        &run,
        "missing",
        "$.services[1].build.context",
        "path-missing",
        None,
    );
}

#[test]
fn huge_inputs_are_rejected_by_lane_and_schema() {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(common::shipped_deploy()).unwrap()).unwrap();
    let dir = common::tempdir();
    let generated = manifest()["generated"].as_array().unwrap().clone();
    for (id, mutate) in [
        (
            "huge-string",
            Box::new(|d: &mut Value| {
                d["services"][0]["config"]["AGENTRUN_BLOB"] = json!("ab ".repeat(370_000));
            }) as Box<dyn Fn(&mut Value)>,
        ),
        (
            "huge-array",
            Box::new(|d: &mut Value| {
                d["services"][0]["command"] = json!(vec!["ab ".repeat(1_300); 300]);
            }),
        ),
    ] {
        let case = generated.iter().find(|c| c["id"] == id).unwrap();
        let mut doc = base.clone();
        mutate(&mut doc);
        let file = dir.path().join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() > 1024 * 1024);
        let run = validate(&file, &[]);
        assert_lane_rejects(
            &run,
            id,
            case["path"].as_str().unwrap(),
            case["rule"].as_str().unwrap(),
            None,
        );
        let report = check_jsonschema(&schema_for("deploy"), std::slice::from_ref(&file));
        assert_schema_verdict(&report, &file, case);
    }
}

#[test]
fn shipped_deploy_passes_and_prints_the_resolved_names() {
    let run = lane(&repo_root(), &["validate", "deploy/deploy.json"]);
    run.assert_code(0);
    let doc: ValidateReport = run.report();
    assert!(doc.valid);
    assert_eq!(doc.kind, Kind::Deploy);
    let n = doc.names.expect("names");
    for (k, got, v) in [
        ("version", n.version.as_str(), "v0.1"),
        ("sourceBranch", n.source_branch.as_str(), "v0.1"),
        ("gitopsBranch", n.gitops_branch.as_str(), "v0.1-gitops"),
        (
            "catalogPath",
            n.catalog_path.as_str(),
            "deploy/artifact-catalog.v01.json",
        ),
        (
            "runtimePath",
            n.runtime_path.as_str(),
            "deploy/gitops/g14/runtime-v01",
        ),
        ("namespace", n.namespace.as_str(), "agentrun-v01"),
        (
            "tektonNamespace",
            n.tekton_namespace.as_str(),
            "agentrun-ci",
        ),
        (
            "pipeline",
            n.pipeline.as_str(),
            "agentrun-v01-ci-image-publish",
        ),
        (
            "tektonServiceAccount",
            n.tekton_service_account.as_str(),
            "agentrun-v01-tekton-runner",
        ),
        (
            "pipelineRunPrefix",
            n.pipeline_run_prefix.as_str(),
            "agentrun-v01-ci-",
        ),
        ("argoNamespace", n.argo_namespace.as_str(), "argocd"),
        ("argoProject", n.argo_project.as_str(), "agentrun-v01"),
        (
            "argoApplication",
            n.argo_application.as_str(),
            "agentrun-g14-v01",
        ),
        (
            "sourceRepo",
            &n.source_repo,
            "git@github.com:pikasTech/agentrun.git",
        ),
        ("registry", &n.registry, "127.0.0.1:5000"),
    ] {
        assert_eq!(got, v, "names.{k}");
    }
    // The default file is deploy/deploy.json; --explain adds the services.
    let run = lane(&repo_root(), &["validate", "--explain"]);
    run.assert_code(0);
    let doc: ValidateReport = run.report();
    let ids: Vec<&str> = doc
        .services
        .as_deref()
        .unwrap()
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ids, ["agentrun-mgr", "agentrun-runner"]);
    let text = lane(&repo_root(), &["validate", "--output", "text"]);
    text.assert_code(0);
    for v in [
        "agentrun-v01",
        "v0.1-gitops",
        "deploy/gitops/g14/runtime-v01",
        "agentrun-g14-v01",
    ] {
        assert!(
            text.stdout.contains(v),
            "text view lacks {v}:\n{}",
            text.stdout
        );
    }
    // And the published schema accepts it.
    let shipped = common::shipped_deploy();
    let report = check_jsonschema(&schema_for("deploy"), std::slice::from_ref(&shipped));
    assert_eq!(report["status"], "ok", "{report}");
}

#[test]
fn a_good_catalog_passes_lane_and_schema() {
    let file = repo_root().join("tests/corpus/catalog-good.json");
    let run = validate(&file, &["--deploy", "deploy/deploy.json"]);
    run.assert_code(0);
    assert_eq!(run.report::<ValidateReport>().kind, Kind::Catalog);
    let report = check_jsonschema(&schema_for("catalog"), std::slice::from_ref(&file));
    assert_eq!(report["status"], "ok", "{report}");
}

#[test]
fn a_missing_file_is_an_environment_error() {
    let run = lane(
        &repo_root(),
        &["validate", "tests/corpus/no-such-file.json"],
    );
    run.assert_code(3);
    run.error();
}

/// `lane validate` reads regular files only, and never more than the size limit: a FIFO used
/// to block forever and `/dev/zero` to grow until memory ran out.
#[test]
fn only_regular_files_are_read_and_reading_stops_at_the_limit() {
    let dir = common::tempdir();
    let fifo = dir.path().join("deploy.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success());
    for (what, file) in [
        ("fifo", fifo.as_path()),
        ("device", Path::new("/dev/zero")),
        ("directory", dir.path()),
    ] {
        let start = std::time::Instant::now();
        let run = validate(file, &[]);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{what}"
        );
        assert_lane_rejects(&run, what, "$", "not-a-file", None);
    }
    // A file that grows past the limit while it is read is cut at the limit, not read whole.
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 3 * 1024 * 1024]).unwrap();
    let run = validate(&big, &[]);
    assert_lane_rejects(&run, "big", "$", "too-large", None);
}

/// A --repo-root that does not exist used to skip every on-disk path check silently.
#[test]
fn a_repo_root_that_does_not_exist_is_a_finding_not_a_skipped_check() {
    let run = validate(
        &common::shipped_deploy(),
        &["--repo-root", "/nonexistent/checkout"],
    );
    assert_lane_rejects(&run, "repo-root", "$", "repo-root", None);
    let file = repo_root().join("Cargo.toml");
    let run = validate(
        &common::shipped_deploy(),
        &["--repo-root", file.to_str().unwrap()],
    );
    assert_lane_rejects(&run, "repo-root file", "$", "repo-root", None);
}

/// What `lane validate` refuses, every later step refuses too, with the same path and rule:
/// render (and its dry-run), generate and promote load deploy.json through the same
/// validation.
#[test]
fn every_step_refuses_what_validate_refuses_with_the_same_finding() {
    let dir = common::tempdir();
    let repo = common::gitrepo::TestRepo::init("v0.1");
    repo.write("README", "x\n");
    repo.commit("init");
    let publish = dir.path().join("publish.json");
    std::fs::write(&publish, "{}").unwrap();
    let cat = repo_root().join("tests/corpus/catalog-good.json");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = dir.path().join("out");
    let mut checked = 0;
    for case in cases().iter().filter(|c| c["kind"] == "deploy") {
        if case.get("args").is_some() {
            continue; // needs flags only validate has (--repo-root)
        }
        let file = corpus_file(case);
        let f = file.to_str().unwrap();
        let what = case["file"].as_str().unwrap();
        for args in [
            vec![
                "render",
                "--deploy",
                f,
                "--catalog",
                cat.to_str().unwrap(),
                "--no-write",
                "--against",
                empty.to_str().unwrap(),
            ],
            vec!["generate", "--deploy", f, "--out", out.to_str().unwrap()],
            vec![
                "promote",
                "--deploy",
                f,
                "--repo",
                repo.path().to_str().unwrap(),
                "--commit",
                "HEAD",
                "--publish",
                publish.to_str().unwrap(),
            ],
        ] {
            let run = lane(dir.path(), &args);
            assert_eq!(run.code, 1, "{what}: {} exit {}", args[0], run.code);
            let doc = run.error();
            let findings: Vec<Finding> = doc
                .error
                .details
                .as_ref()
                .and_then(|d| d.get("findings"))
                .map(|f| serde_json::from_value(f.clone()).expect("findings"))
                .unwrap_or_else(|| panic!("{what}: {} names no findings: {doc:?}", args[0]));
            assert!(
                findings
                    .iter()
                    .any(|x| case["path"] == x.path.as_str() && case["rule"] == x.rule.as_ref()),
                "{what}: {} does not refuse at {} with {}: {findings:?}",
                args[0],
                case["path"],
                case["rule"]
            );
            if let Some(s) = case["secret"].as_str() {
                assert!(!run.stdout.contains(s) && !run.stderr.contains(s), "{what}");
            }
        }
        checked += 1;
    }
    assert!(checked > 60, "{checked}");
    assert!(!out.exists(), "generate wrote from a refused deploy.json");
}
