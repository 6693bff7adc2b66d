//! The project's CI checks (deploy/ci-checks.json) with the real toolchain: `lane validate
//! --kind ci` rules; the shipped validate Task's step scripts run on this machine against the
//! Bun + TypeScript sample (samples/agentrun) with the pinned Bun binary from npm (the Bun
//! steps see only `bun` on PATH, as in the Bun image): clean, stale lockfile, type error,
//! failing test, proxy only in the install step, a Task generated from another declaration;
//! and the sample images built on the Bun base image with buildah, started, answering.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lane::error::ExitClass;
use lane::model::Finding;
use lane::validate::{Kind, ValidateReport};
use serde_json::Value;

const STEPS: &[&str] = &["ci-prepare", "ci-install", "ci-typecheck", "ci-test"];

/// The pinned Bun binary, put in its cache by the project's own script.
fn bun_bin() -> PathBuf {
    let out = Command::new(common::repo_root().join("scripts/install-bun.sh"))
        .output()
        .expect("run scripts/install-bun.sh");
    assert!(
        out.status.success(),
        "scripts/install-bun.sh failed (needs npm and the npm registry): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn validate_task() -> Value {
    let text = std::fs::read_to_string(common::repo_root().join("tasks/validate.yaml")).unwrap();
    serde_saphyr::from_str::<Value>(&text).unwrap()
}

fn step<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["spec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("the validate Task has no step {name}"))
}

fn env_names(step: &Value) -> Vec<String> {
    step["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "node_modules" {
            continue;
        }
        let t = e.file_type().unwrap();
        if t.is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else if t.is_file() {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// A source checkout as prepare-source leaves it (the sample's apps and the shipped
/// deploy/), the validate Task's scratch volume, result file and Bun cache.
struct Workspace {
    dir: tempfile::TempDir,
    repo: common::gitrepo::TestRepo,
    bun_dir: PathBuf,
    task: Value,
}

impl Workspace {
    fn new() -> Workspace {
        let bun = bun_bin();
        let dir = common::tempdir();
        // The Bun steps get a PATH with nothing but bun, as in the Bun image.
        let bun_dir = dir.path().join("bin");
        std::fs::create_dir_all(&bun_dir).unwrap();
        std::os::unix::fs::symlink(&bun, bun_dir.join("bun")).unwrap();
        for d in ["ci", "cache", "results"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let repo = common::gitrepo::TestRepo::init("v0.1");
        copy_dir(
            &common::repo_root().join("samples/agentrun/apps"),
            &repo.path().join("apps"),
        );
        for f in ["deploy.json", "ci-checks.json"] {
            let text = std::fs::read_to_string(common::repo_root().join("deploy").join(f)).unwrap();
            repo.write(&format!("deploy/{f}"), &text);
        }
        repo.commit("AgentRun v0.1 with the Bun + TypeScript sample");
        Workspace {
            dir,
            repo,
            bun_dir,
            task: validate_task(),
        }
    }

    fn edit(&self, rel: &str, f: impl FnOnce(String) -> String) {
        let p = self.repo.path().join(rel);
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        self.repo.write(rel, &f(text));
        self.repo.commit(&format!("change {rel}"));
    }

    fn result(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("results/ci-summary")).unwrap_or_default()
    }

    /// Run one step's script with the env the Task gives it (Tekton variables mapped to this
    /// machine; the lane proxy, which does not exist here, left out).
    fn run(&self, name: &str, cache_bound: bool) -> Output {
        let s = step(&self.task, name);
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(s["script"].as_str().unwrap())
            .current_dir(self.repo.path())
            .env_clear();
        if s["image"] == "$(params.ci-image)" {
            cmd.env("PATH", &self.bun_dir);
        } else {
            let lane_dir = common::lane_bin().parent().unwrap().to_path_buf();
            cmd.env(
                "PATH",
                format!(
                    "{}:{}",
                    lane_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
        }
        for e in s["env"].as_array().unwrap() {
            let key = e["name"].as_str().unwrap();
            let value = match e["value"].as_str().unwrap() {
                _ if key.to_ascii_lowercase().ends_with("_proxy") => continue,
                "$(params.commit)" => self.repo.head(),
                "$(results.ci-summary.path)" => self
                    .dir
                    .path()
                    .join("results/ci-summary")
                    .display()
                    .to_string(),
                "$(workspaces.bun-cache.bound)" => cache_bound.to_string(),
                "$(workspaces.bun-cache.path)" if cache_bound => {
                    self.dir.path().join("cache").display().to_string()
                }
                "$(workspaces.bun-cache.path)" => String::new(),
                v if v.starts_with("$(") => panic!("unexpected substitution {v} in {name}"),
                _ if key == "CI_DIR" => self.dir.path().join("ci").display().to_string(),
                v => v.to_string(),
            };
            cmd.env(key, value);
        }
        cmd.output().unwrap()
    }

    /// Run the CI steps in order until one fails; (name of the failed step, its output).
    fn run_all(&self, cache_bound: bool) -> Option<(String, Output)> {
        for name in STEPS {
            let out = self.run(name, cache_bound);
            if !out.status.success() {
                return Some((name.to_string(), out));
            }
        }
        None
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(snapshot(&e.path()));
        } else {
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_clean_sample_passes_every_check_without_a_cache_workspace() {
    let ws = Workspace::new();
    let git_before = snapshot(&ws.repo.path().join(".git"));
    let mut log = String::new();
    for name in STEPS {
        let out = ws.run(name, false);
        log.push_str(&text(&out));
        assert!(out.status.success(), "{name} failed:\n{log}");
    }
    for pkg in ["agentrun-mgr", "agentrun-runner"] {
        for s in ["install", "typecheck", "test"] {
            assert!(
                log.contains(&format!("ci: {pkg}: {s} ok")),
                "{pkg} {s}:\n{log}"
            );
        }
    }
    // The real toolchain ran: Bun's test runner and the project's own tsc.
    assert!(log.contains("bun test v1.4.5"), "{log}");
    assert!(log.contains("(pass) health > GET /health answers ok with the lane"));
    assert!(ws
        .dir
        .path()
        .join("ci/src/apps/mgr/node_modules/typescript/bin/tsc")
        .is_file());
    assert_eq!(
        ws.result(),
        "ok: agentrun-mgr agentrun-runner: install, typecheck and test passed\n"
    );
    // Nothing was written into the (read-only) source checkout, not even its .git.
    assert!(!ws.repo.path().join("apps/mgr/node_modules").exists());
    assert_eq!(snapshot(&ws.repo.path().join(".git")), git_before);
    assert_eq!(ws.repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_lockfile_out_of_date_fails_the_frozen_install() {
    let ws = Workspace::new();
    ws.edit("apps/runner/package.json", |t| {
        t.replace("\"typescript\": \"5.9.3\"", "\"typescript\": \"5.9.2\"")
    });
    let (failed, out) = ws.run_all(true).expect("a check fails");
    let log = text(&out);
    assert_eq!(failed, "ci-install", "{log}");
    assert!(log.contains("ci: agentrun-mgr: install ok"), "{log}");
    assert!(log.contains("ci: agentrun-runner: install FAILED"), "{log}");
    let result = ws.result();
    println!("ci-summary result:\n{result}");
    assert!(
        result.starts_with("agentrun-runner install failed:\n"),
        "{result}"
    );
    assert!(
        result.contains("error: lockfile had changes, but lockfile is frozen"),
        "{result}"
    );
    assert!(
        result.contains("typescript changed from 5.9.3 to 5.9.2"),
        "{result}"
    );
    assert!(!result.contains("agentrun-mgr"), "{result}");
}

#[test]
fn a_type_error_fails_the_type_check_with_file_and_line() {
    let ws = Workspace::new();
    ws.edit("apps/mgr/src/app.ts", |t| {
        t.replace(
            "export function jobName(template: string, id: string): string {",
            "export function jobName(template: string, id: string): number {",
        )
    });
    let (failed, out) = ws.run_all(true).expect("a check fails");
    let log = text(&out);
    assert_eq!(failed, "ci-typecheck", "{log}");
    assert!(log.contains("ci: agentrun-runner: typecheck ok"), "{log}");
    let result = ws.result();
    println!("ci-summary result:\n{result}");
    assert!(
        result.starts_with("agentrun-mgr typecheck failed:\n"),
        "{result}"
    );
    let line = std::fs::read_to_string(ws.repo.path().join("apps/mgr/src/app.ts"))
        .unwrap()
        .lines()
        .position(|l| l.contains("`${template}-${id}`"))
        .unwrap()
        + 1;
    assert!(
        result.contains(&format!("  apps/mgr/src/app.ts:{line}:"))
            && result.contains("error TS2322"),
        "want apps/mgr/src/app.ts:{line}: error TS2322 in:\n{result}"
    );
    assert!(result.len() <= 1536);
}

#[test]
fn a_failing_unit_test_fails_with_its_name_and_location() {
    let ws = Workspace::new();
    ws.edit("apps/runner/test/task.test.ts", |t| {
        t.replace(
            "expect(r.status).toBe(\"failed\");",
            "expect(r.status).toBe(\"done\");",
        )
    });
    let (failed, out) = ws.run_all(true).expect("a check fails");
    let log = text(&out);
    assert_eq!(failed, "ci-test", "{log}");
    assert!(log.contains("ci: agentrun-mgr: test ok"), "{log}");
    let result = ws.result();
    println!("ci-summary result:\n{result}");
    assert!(
        result.starts_with("agentrun-runner test failed:\n"),
        "{result}"
    );
    assert!(
        result.contains("(fail) runTask > stops at the first failing step\n"),
        "{result}"
    );
    assert!(
        result.contains("apps/runner/test/task.test.ts:"),
        "{result}"
    );
}

#[test]
fn a_task_generated_from_another_declaration_refuses_to_run() {
    let ws = Workspace::new();
    ws.edit("deploy/ci-checks.json", |t| {
        t.replace(
            "{ \"name\": \"agentrun-runner\", \"dir\": \"apps/runner\" }",
            "{ \"name\": \"agentrun-runner\", \"dir\": \"apps/runner\", \"test\": [\"bun\", \"test\", \"--bail\"] }",
        )
    });
    let out = ws.run("ci-prepare", false);
    assert!(!out.status.success());
    let log = text(&out);
    assert!(log.contains("task-out-of-date"), "{log}");
    assert!(ws.result().contains("deploy/ci-checks.json is rejected"));
    assert!(!ws.dir.path().join("ci/src").exists());
}

#[test]
fn the_proxy_reaches_the_install_step_only() {
    let task = validate_task();
    let deploy: Value =
        serde_json::from_str(&std::fs::read_to_string(common::shipped_deploy()).unwrap()).unwrap();
    let proxy = &deploy["lane"]["proxy"];
    let install = step(&task, "ci-install");
    let env: Vec<(String, String)> = install["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("HTTPS_PROXY"), proxy["httpsProxy"].as_str());
    assert_eq!(get("http_proxy"), proxy["httpProxy"].as_str());
    let no_proxy = proxy["noProxy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(get("NO_PROXY"), Some(no_proxy.as_str()));
    assert_eq!(get("no_proxy"), Some(no_proxy.as_str()));
    for name in [
        "ci-prepare",
        "ci-typecheck",
        "ci-test",
        "deploy-json",
        "source",
    ] {
        let names = env_names(step(&task, name));
        assert!(
            names
                .iter()
                .all(|n| !n.to_ascii_lowercase().ends_with("_proxy")),
            "{name} has proxy env: {names:?}"
        );
    }
    // Never Task- or pod-wide, never written into the scripts.
    assert!(task["spec"].get("stepTemplate").is_none());
    for s in task["spec"]["steps"].as_array().unwrap() {
        let script = s["script"].as_str().unwrap();
        assert!(!script.contains("10808") && !script.to_ascii_lowercase().contains("_proxy="));
    }
    // The Bun steps run in the pinned image of deploy/ci-checks.json.
    let ci: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("deploy/ci-checks.json")).unwrap(),
    )
    .unwrap();
    let param = task["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ci-image")
        .unwrap();
    assert_eq!(param["default"], ci["image"]);
    for name in ["ci-install", "ci-typecheck", "ci-test"] {
        assert_eq!(step(&task, name)["image"], "$(params.ci-image)");
    }
}

fn validate_ci(dir: &Path, value: &Value, root: Option<&Path>) -> common::Run {
    let file = dir.join("ci-checks.json");
    std::fs::write(&file, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    let mut args = vec!["validate", file.to_str().unwrap()];
    if let Some(r) = root {
        args.push("--repo-root");
        args.push(r.to_str().unwrap());
    }
    common::lane(dir, &args)
}

#[test]
fn lane_validate_names_file_path_and_rule() {
    let dir = common::tempdir();
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("deploy/ci-checks.json")).unwrap(),
    )
    .unwrap();
    let samples = common::repo_root().join("samples/agentrun");
    let ok = validate_ci(dir.path(), &shipped, Some(&samples));
    ok.assert_code(0);
    let doc: ValidateReport = ok.report();
    assert_eq!(doc.kind, Kind::Ci);
    let ci = doc.ci.expect("ci summary");
    assert_eq!(ci.packages[0].install[2], "--frozen-lockfile");
    assert_eq!(ci.packages[1].typecheck[3], "tsc");

    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str, &str)> = vec![
        (
            "tag",
            Box::new(|v| v["image"] = "127.0.0.1:5000/lane/bun:1.4.5".into()),
            "$.image",
            "image-pinned",
        ),
        (
            "shell",
            Box::new(|v| {
                v["packages"][0]["test"] = serde_json::json!(["sh", "-c", "bun test; curl evil"])
            }),
            "$.packages[0].test[0]",
            "program",
        ),
        (
            "escape",
            Box::new(|v| v["packages"][1]["dir"] = "apps/../../etc".into()),
            "$.packages[1].dir",
            "repo-path",
        ),
        (
            "unknown",
            Box::new(|v| v["packages"][0]["script"] = "rm -rf /".into()),
            "$.packages[0]",
            "unknown-field",
        ),
        (
            "newline",
            Box::new(|v| v["packages"][0]["typecheck"] = serde_json::json!(["bun", "x\ny"])),
            "$.packages[0].typecheck[1]",
            "control-character",
        ),
        (
            "missing",
            Box::new(|v| v["packages"][0]["dir"] = "apps/nope".into()),
            "$.packages[0].dir",
            "path-missing",
        ),
    ];
    for (what, change, path, rule) in cases {
        let mut v = shipped.clone();
        change(&mut v);
        let run = validate_ci(dir.path(), &v, Some(&samples));
        run.assert_code(1);
        let doc: ValidateReport = run.report();
        assert!(doc.file.ends_with("ci-checks.json"));
        let found = doc
            .findings
            .iter()
            .any(|f| f.path.starts_with(path) && f.rule == rule);
        assert!(found, "{what}: want {path} [{rule}] in {doc:?}");
    }

    // A package directory that leaves the repository through a symlink, and one without a
    // committed lockfile.
    let repo = common::tempdir();
    copy_dir(&samples.join("apps"), &repo.path().join("apps"));
    std::fs::remove_file(repo.path().join("apps/runner/bun.lock")).unwrap();
    let outside = common::tempdir();
    std::fs::write(outside.path().join("package.json"), "{}").unwrap();
    std::fs::remove_dir_all(repo.path().join("apps/mgr")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("apps/mgr")).unwrap();
    let run = validate_ci(dir.path(), &shipped, Some(repo.path()));
    run.assert_code(1);
    let doc: ValidateReport = run.report();
    let rules: Vec<(&str, &str)> = doc
        .findings
        .iter()
        .map(|f| (f.path.as_str(), f.rule.as_ref()))
        .collect();
    assert!(
        rules.contains(&("$.packages[0].dir", "path-escapes")),
        "{doc:?}"
    );
    assert!(
        rules.contains(&("$.packages[1].dir", "package-files")),
        "{doc:?}"
    );

    // The same rules as text for people, and the shipped file agrees with its JSON Schema.
    let mut bad = shipped.clone();
    bad["image"] = "bun:1.4.5".into();
    let bad_file = dir.path().join("tag.json");
    std::fs::write(&bad_file, bad.to_string()).unwrap();
    let run = common::lane(
        dir.path(),
        &[
            "validate",
            bad_file.to_str().unwrap(),
            "--kind",
            "ci",
            "--output",
            "text",
        ],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("tag.json: 1 finding(s)")
            && run.stdout.contains("$.image: [image-pinned]"),
        "{}",
        run.stdout
    );
    let cjs = common::tools::require("check-jsonschema");
    let schema = common::repo_root().join("deploy/ci-checks.schema.json");
    let ok = Command::new(&cjs)
        .arg("--schemafile")
        .arg(&schema)
        .arg(common::repo_root().join("deploy/ci-checks.json"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    let mut bad = shipped.clone();
    bad["packages"][0]["test"] = serde_json::json!(["sh", "-c", "x"]);
    let bad_file = dir.path().join("bad.json");
    std::fs::write(&bad_file, bad.to_string()).unwrap();
    let refused = Command::new(&cjs)
        .arg("--schemafile")
        .arg(&schema)
        .arg(&bad_file)
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "the schema accepts a shell command"
    );
}

#[test]
fn generate_adds_the_checks_only_with_a_declaration() {
    let dir = common::tempdir();
    std::fs::copy(common::shipped_deploy(), dir.path().join("deploy.json")).unwrap();
    let out = dir.path().join("out");
    let deploy = dir.path().join("deploy.json");
    common::lane(
        dir.path(),
        &[
            "generate",
            "--deploy",
            deploy.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let text = std::fs::read_to_string(out.join("tasks/validate.yaml")).unwrap();
    assert!(
        !text.contains("ci-image") && !text.contains("bun"),
        "{text}"
    );
    std::fs::copy(
        common::repo_root().join("deploy/ci-checks.json"),
        dir.path().join("ci-checks.json"),
    )
    .unwrap();
    common::lane(
        dir.path(),
        &[
            "generate",
            "--deploy",
            deploy.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let task: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(out.join("tasks/validate.yaml")).unwrap())
            .unwrap();
    let names: Vec<&str> = task["spec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "deploy-json",
            "source",
            "gitops-render",
            "ci-prepare",
            "ci-install",
            "ci-typecheck",
            "ci-test"
        ]
    );
    // A declaration lane validate rejects is rejected by generate too.
    let mut bad: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ci-checks.json")).unwrap())
            .unwrap();
    bad["image"] = "bun:latest".into();
    std::fs::write(dir.path().join("ci-checks.json"), bad.to_string()).unwrap();
    let run = common::lane(
        dir.path(),
        &[
            "generate",
            "--deploy",
            deploy.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    let e = run.error();
    assert_eq!(e.error.class, ExitClass::Rejected);
    // details are free-form per error; its findings are lane's Finding.
    let findings: Vec<Finding> =
        serde_json::from_value(e.error.details.as_ref().unwrap()["findings"].clone()).unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.path == "$.image" && f.rule == "image-pinned"),
        "{}",
        run.stdout
    );
}

/// buildah with this test's storage.
fn buildah(storage: &Path) -> Command {
    let mut c = Command::new(common::tools::require("buildah"));
    c.args(["--storage-driver", "vfs", "--root"])
        .arg(storage.join("root"))
        .arg("--runroot")
        .arg(storage.join("run"));
    c
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the container process group and removes the working container on drop.
struct Running {
    child: std::process::Child,
    storage: PathBuf,
    ctr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        unsafe_kill_group(self.child.id());
        let _ = self.child.wait();
        let _ = buildah(&self.storage).args(["rm", &self.ctr]).output();
    }
}

fn unsafe_kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pid}")])
        .output();
}

#[test]
fn the_sample_images_run_as_65532_and_answer_health() {
    let registry = common::registry::Registry::start();
    let storage = common::tempdir();
    let base = Command::new(common::repo_root().join("scripts/build-bun-base.sh"))
        .args(["--tls-verify", "false", "--push"])
        .arg(format!("{}/lane/bun:1.4.5", registry.host))
        .env("BUILDAH_ROOT", storage.path().join("root"))
        .env("BUILDAH_RUNROOT", storage.path().join("run"))
        .output()
        .unwrap();
    let built: Value = serde_json::from_str(&ok(base, "build-bun-base.sh")).unwrap();
    let pinned = built["pinned"].as_str().unwrap().to_string();
    // Reproducible: a second build gives the same digest.
    assert_eq!(build_base(&registry, storage.path()), pinned);
    assert!(pinned.contains("@sha256:"), "{built}");
    let size = built["sizeBytes"].as_u64().unwrap();
    assert!(size < 140_000_000, "base image is {size} bytes");
    // The committed pin is this build's digest on a machine with the same glibc; here only
    // the digest form is required (another host's libraries give another digest).
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("deploy/ci-checks.json")).unwrap(),
    )
    .unwrap();
    assert!(shipped["image"].as_str().unwrap().ends_with(&format!("@{}", built["digest"].as_str().unwrap())) || std::env::var("LANE_BUN_DIGEST_MAY_DIFFER").is_ok(),
        "deploy/ci-checks.json pins {} but the base image builds as {}; rebuild and update the pin (docs/ci-checks.md)", shipped["image"], built["digest"]);

    for (app, svc) in [("mgr", "agentrun-mgr"), ("runner", "agentrun-runner")] {
        let ctx = common::repo_root().join("samples/agentrun/apps").join(app);
        let tag = format!("localhost/{svc}:test");
        ok(
            buildah(storage.path())
                .args([
                    "bud",
                    "--quiet",
                    "--isolation",
                    "chroot",
                    "--tls-verify=false",
                ])
                .arg("--build-arg")
                .arg(format!("BUN_IMAGE={pinned}"))
                .args(["-t", &tag])
                .arg(&ctx)
                .output()
                .unwrap(),
            &format!("buildah bud {app}"),
        );
        let user = ok(
            buildah(storage.path())
                .args(["inspect", "--format", "{{.OCIv1.Config.User}}", &tag])
                .output()
                .unwrap(),
            "inspect",
        );
        assert_eq!(user, "65532:65532", "{svc}");
    }

    // agentrun-mgr: the image's own entrypoint, as its user, answers /health and /runs.
    let ctr = ok(
        buildah(storage.path())
            .args(["from", "--quiet", "localhost/agentrun-mgr:test"])
            .output()
            .unwrap(),
        "buildah from",
    );
    let info: Value = serde_json::from_str(&ok(
        buildah(storage.path())
            .args(["inspect", "--type", "image", "localhost/agentrun-mgr:test"])
            .output()
            .unwrap(),
        "inspect",
    ))
    .unwrap();
    let entry: Vec<String> =
        serde_json::from_value(info["OCIv1"]["config"]["Entrypoint"].clone()).unwrap();
    assert_eq!(entry, ["/usr/local/bin/bun", "run", "src/main.ts"]);
    let port = free_port();
    let mut cmd = buildah(storage.path());
    cmd.args(["run", "--isolation", "chroot", "--env"])
        .arg(format!("PORT={port}"))
        .args(["--env", "AGENTRUN_LANE=v0.1", &ctr, "--"])
        .args(&entry)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let running = Running {
        child: cmd.spawn().unwrap(),
        storage: storage.path().to_path_buf(),
        ctr: ctr.clone(),
    };
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: mgr\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let mut health = None;
    for _ in 0..100 {
        health = get("/health");
        if health.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let health = health.expect("agentrun-mgr answers on its port");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        health.contains(r#"{"status":"ok","service":"agentrun-mgr","lane":"v0.1"}"#),
        "{health}"
    );
    let runs = get("/runs").unwrap();
    assert!(runs.starts_with("HTTP/1.1 405"), "{runs}");
    let uid = ok(
        buildah(storage.path())
            .args([
                "run",
                "--isolation",
                "chroot",
                &ctr,
                "--",
                "/usr/local/bin/bun",
                "-e",
                "console.log(process.getuid())",
            ])
            .output()
            .unwrap(),
        "uid",
    );
    assert_eq!(uid, "65532");
    drop(running);

    // agentrun-runner: the Job entrypoint runs a task and exits by its result.
    let ctr = ok(
        buildah(storage.path())
            .args(["from", "--quiet", "localhost/agentrun-runner:test"])
            .output()
            .unwrap(),
        "buildah from",
    );
    let run = |task: &str| {
        buildah(storage.path())
            .args(["run", "--isolation", "chroot", "--env"])
            .arg(format!("AGENTRUN_TASK={task}"))
            .args([&ctr, "--", "/usr/local/bin/bun", "run", "src/main.ts"])
            .output()
            .unwrap()
    };
    let done = run(r#"{"id":"t-1","steps":["clone","build"]}"#);
    assert!(done.status.success(), "{}", text(&done));
    let line: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(line["status"], "done");
    assert!(!run(r#"{"id":"t-2","steps":["fail"]}"#).status.success());
    let _ = buildah(storage.path()).args(["rm", &ctr]).output();
}

#[test]
fn the_failure_result_stays_within_its_size_and_names_every_package() {
    let ws = Workspace::new();
    let long = "y".repeat(400);
    let bad: String = (0..40)
        .map(|i| format!("export const value_{i}_{long}: number = \"{long}\";\n"))
        .collect();
    // File names long enough that every error line is cut to its 200 characters.
    let name = format!("bad_{}.ts", "n".repeat(180));
    ws.repo.write(&format!("apps/mgr/src/{name}"), &bad);
    ws.repo.write(&format!("apps/runner/src/{name}"), &bad);
    ws.repo.commit("many type errors");
    let (failed, out) = ws.run_all(true).expect("a check fails");
    let log = text(&out);
    assert_eq!(failed, "ci-typecheck");
    // The whole output stays in the step log; the result is cut to its budget.
    assert!(log.matches("error TS2322").count() >= 80, "{log}");
    let result = ws.result();
    println!("ci-summary result:\n{result}");
    assert!(result.len() <= 1536, "{} bytes", result.len());
    assert!(
        result.starts_with("agentrun-mgr typecheck failed:\n  apps/mgr/src/bad_nnn"),
        "{result}"
    );
    assert!(result.contains("\nagentrun-runner typecheck failed:\n  apps/runner/src/bad_nnn"));
    assert!(result.lines().all(|l| l.chars().count() <= 202), "{result}");
    // Long lines lose their middle, never the location or the message.
    assert!(result.lines().any(|l| l.contains('…')), "{result}");
    assert!(
        result
            .contains(".ts:2:14: error TS2322: Type 'string' is not assignable to type 'number'."),
        "{result}"
    );
}

/// Build the Bun base image into `storage` and push it to `registry`; its pinned reference.
fn build_base(registry: &common::registry::Registry, storage: &Path) -> String {
    let base = Command::new(common::repo_root().join("scripts/build-bun-base.sh"))
        .args(["--tls-verify", "false", "--push"])
        .arg(format!("{}/lane/bun:1.4.5", registry.host))
        .env("BUILDAH_ROOT", storage.join("root"))
        .env("BUILDAH_RUNROOT", storage.join("run"))
        .output()
        .unwrap();
    let built: Value = serde_json::from_str(&ok(base, "build-bun-base.sh")).unwrap();
    built["pinned"].as_str().unwrap().to_string()
}

fn run_in_image(ws: &Workspace, image: &str, storage: &Path) -> Output {
    Command::new(common::repo_root().join("scripts/run-ci-checks.sh"))
        .arg("--src")
        .arg(ws.repo.path())
        .args([
            "--commit",
            &ws.repo.head(),
            "--image",
            image,
            "--tls-verify",
            "false",
        ])
        .env("LANE_BIN", common::lane_bin())
        .env("BUILDAH_ROOT", storage.join("root"))
        .env("BUILDAH_RUNROOT", storage.join("run"))
        .env("TMPDIR", ws.dir.path())
        .output()
        .unwrap()
}

#[test]
fn the_task_steps_run_inside_the_bun_image() {
    common::tools::require("buildah");
    let registry = common::registry::Registry::start();
    let storage = common::tempdir();
    let image = build_base(&registry, storage.path());
    let ws = Workspace::new();
    let clean = run_in_image(&ws, &image, storage.path());
    assert!(clean.status.success(), "{}", text(&clean));
    assert_eq!(
        String::from_utf8_lossy(&clean.stdout),
        "agentrun-mgr: install ok, typecheck ok, test ok\n\
         agentrun-runner: install ok, typecheck ok, test ok\n"
    );
    // In the image the step runs as 65532 with bun from the image, not this machine's.
    let log = String::from_utf8_lossy(&clean.stderr);
    assert!(log.contains("bun test v1.4.5"), "{log}");

    ws.edit("apps/mgr/test/app.test.ts", |t| {
        t.replace(
            "expect(res.status).toBe(404);",
            "expect(res.status).toBe(418);",
        )
    });
    let failing = run_in_image(&ws, &image, storage.path());
    assert_eq!(failing.status.code(), Some(1), "{}", text(&failing));
    let stdout = String::from_utf8_lossy(&failing.stdout);
    assert!(
        stdout.starts_with(
            "agentrun-mgr: install ok, typecheck ok, test failed\n\
             agentrun-runner: install ok, typecheck ok, test ok\n--- ci-summary\n\
             agentrun-mgr test failed:\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("(fail) health > an unknown path is 404\n")
            && stdout.contains("apps/mgr/test/app.test.ts:16:"),
        "{stdout}"
    );
}

#[test]
fn declared_arguments_reach_the_program_verbatim_never_through_a_shell() {
    // A declaration whose test argv holds what a shell would expand, generated into a Task.
    let dir = common::tempdir();
    let mut ci: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("deploy/ci-checks.json")).unwrap(),
    )
    .unwrap();
    let args = [
        "$(touch pwned)",
        "`touch pwned`",
        "*",
        "a b",
        "x'y\"z",
        "$HOME",
        ";",
    ];
    let mut argv = vec![
        "bun".to_string(),
        "-e".into(),
        "console.log(\"ARGV=\" + JSON.stringify(process.argv.slice(1)))".into(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    ci["packages"][0]["test"] = serde_json::json!(argv);
    std::fs::copy(common::shipped_deploy(), dir.path().join("deploy.json")).unwrap();
    std::fs::write(dir.path().join("ci-checks.json"), ci.to_string()).unwrap();
    let out = dir.path().join("out");
    common::lane(
        dir.path(),
        &[
            "generate",
            "--deploy",
            dir.path().join("deploy.json").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let mut ws = Workspace::new();
    ws.task =
        serde_saphyr::from_str(&std::fs::read_to_string(out.join("tasks/validate.yaml")).unwrap())
            .unwrap();
    ws.repo.write(
        "deploy/ci-checks.json",
        &serde_json::to_string_pretty(&ci).unwrap(),
    );
    ws.repo.commit("hostile-looking test arguments");
    let prep = ws.run("ci-prepare", false);
    assert!(prep.status.success(), "{}", text(&prep));
    let run = ws.run("ci-test", false);
    let log = text(&run);
    assert!(run.status.success(), "{log}");
    let printed = log
        .lines()
        .find_map(|l| l.strip_prefix("ARGV="))
        .unwrap_or_else(|| panic!("no ARGV line in:\n{log}"));
    let got: Vec<String> = serde_json::from_str(printed).unwrap();
    assert_eq!(got, args);
    let src = ws.dir.path().join("ci/src/apps/mgr");
    assert!(!src.join("pwned").exists() && !ws.repo.path().join("pwned").exists());
}

#[test]
fn the_schema_agrees_with_lane() {
    let cjs = common::tools::require("check-jsonschema");
    let schema_file = common::repo_root().join("deploy/ci-checks.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_file).unwrap()).unwrap();
    let dir = common::tempdir();
    let maximal = serde_json::json!({
        "schemaVersion": 1,
        "image": format!("127.0.0.1:5000/lane/bun@sha256:{}", "a".repeat(64)),
        "bunVersion": "1.4.5",
        "packages": [
            {"name": "root", "dir": "."},
            {"name": "agentrun-mgr", "dir": "apps/mgr",
             "typecheck": ["bun", "run", "typecheck"], "test": ["bun", "test", "--bail"]}
        ]
    });
    // Every field lane reads is in the schema, and nothing else.
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&schema["properties"]), keys(&maximal));
    assert_eq!(
        keys(&schema["$defs"]["package"]["properties"]),
        keys(&maximal["packages"][1])
    );
    let judge = |name: &str, v: &Value| -> (bool, bool) {
        let f = dir.path().join(format!("{name}.json"));
        std::fs::write(&f, v.to_string()).unwrap();
        let by_schema = Command::new(&cjs)
            .arg("--schemafile")
            .arg(&schema_file)
            .arg(&f)
            .output()
            .unwrap()
            .status
            .success();
        let by_lane = common::lane(
            dir.path(),
            &["validate", f.to_str().unwrap(), "--kind", "ci"],
        )
        .code
            == 0;
        (by_schema, by_lane)
    };
    assert_eq!(judge("maximal", &maximal), (true, true));
    type Change = fn(&mut Value);
    let refused: [(&str, Change); 11] = [
        ("double-slash", |v| {
            v["packages"][1]["dir"] = "apps//mgr".into()
        }),
        ("trailing-slash", |v| {
            v["packages"][1]["dir"] = "apps/mgr/".into()
        }),
        ("unknown", |v| v["packages"][0]["env"] = "X=1".into()),
        ("tag", |v| {
            v["image"] = "127.0.0.1:5000/lane/bun:1.4.5".into()
        }),
        ("version", |v| v["bunVersion"] = "^1.4".into()),
        ("dotdot", |v| v["packages"][1]["dir"] = "apps/../..".into()),
        ("absolute", |v| v["packages"][1]["dir"] = "/apps".into()),
        ("empty-argv", |v| {
            v["packages"][1]["test"] = serde_json::json!([])
        }),
        ("program", |v| {
            v["packages"][1]["test"] = serde_json::json!(["npx", "jest"])
        }),
        ("newline", |v| {
            v["packages"][1]["test"] = serde_json::json!(["bun", "test\n"])
        }),
        ("too-many", |v| {
            v["packages"][1]["test"] = serde_json::json!(vec!["bun"; 17])
        }),
    ];
    for (name, change) in refused {
        let mut v = maximal.clone();
        change(&mut v);
        assert_eq!(judge(name, &v), (false, false), "{name}: schema, lane");
    }
}

/// The validate Task's read-only GitOps render: before the lane exists it says so and
/// passes; with the GitOps branch as prepare-source fetches it, this commit's deploy.json is
/// rendered against the lane's catalog and nothing is written; a deploy.json the render cannot
/// use fails the step.
#[test]
fn the_gitops_render_step_renders_against_the_lanes_catalog_and_writes_nothing() {
    let ws = Workspace::new();
    let script = step(&ws.task, "gitops-render")["script"]
        .as_str()
        .unwrap()
        .to_string();
    let lane_dir = common::lane_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        lane_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .current_dir(ws.repo.path())
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no GitOps branch v0.1-gitops yet"),
        "{}",
        text(&out)
    );

    // The lane's catalog on refs/remotes/origin/v0.1-gitops, as prepare-source leaves it.
    let head = ws.repo.head();
    let catalog = common::test_catalog(
        &head,
        &[
            ("agentrun-mgr", "deployment", 'a'),
            ("agentrun-runner", "job", 'b'),
        ],
    );
    let gitops = common::plan::commit_to_branch(
        ws.repo.path(),
        "v0.1-gitops",
        &[(
            "deploy/artifact-catalog.v01.json",
            &serde_json::to_string_pretty(&catalog).unwrap(),
        )],
    );
    ws.repo.git(&[
        "update-ref",
        "refs/remotes/origin/v0.1-gitops",
        gitops.trim(),
    ]);
    ws.repo.git(&["update-ref", "-d", "refs/heads/v0.1-gitops"]);
    let before = snapshot(ws.repo.path());
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("agentrun-mgr"),
        "the render names the services: {}",
        text(&out)
    );
    assert_eq!(snapshot(ws.repo.path()), before, "the render wrote nothing");

    // A deploy.json whose runtime tree cannot be rendered fails the step.
    ws.edit("deploy/deploy.json", |t| {
        let mut d: Value = serde_json::from_str(&t).unwrap();
        d["services"][0]["ports"][0]["containerPort"] = serde_json::json!(70000);
        serde_json::to_string_pretty(&d).unwrap()
    });
    let out = run();
    assert!(!out.status.success(), "{}", text(&out));
}
