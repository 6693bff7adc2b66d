//! The generated Tekton Tasks/Pipeline/Triggers and the Argo CD bootstrap: committed files
//! equal a fresh generation, every document validates against the upstream schemas (or a
//! structural test where upstream has none), scripts never interpolate params, images are
//! pinned, the trigger filter is evaluated by a real CEL evaluator on GitHub push payloads,
//! and every name/registry/proxy comes from deploy.json.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use lane::generate::GenerateReport;
use lane::model::LaneNames;
use lane::validate::ValidateReport;
use lane::verify::{Status, VerifyReport};
use serde_json::{json, Value};

const DIRS: &[&str] = &["tasks", "pipelines", "gitops"];
/// The build step's image when generate is not given one (the published buildah digest).
const BUILDAH_DEFAULT: &str = "quay.io/buildah/stable:v1.39.0@sha256:85ad593f788870d76c4e0d37c42279d42416b7cad2c1577dd019c83ae04232fa";
const TEST_TASK_IMAGE: &str =
    "registry.test/lane/lane@sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// All generated `.yaml` files under `root` (relative path → text).
fn read_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(d)) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") {
                out.insert(
                    format!("{d}/{name}"),
                    std::fs::read_to_string(e.path()).unwrap(),
                );
            }
        }
    }
    out
}

fn docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// Every document of a tree with the file it came from.
fn all_docs(tree: &BTreeMap<String, String>) -> Vec<(String, Value)> {
    tree.iter()
        .flat_map(|(p, t)| docs(t).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

fn kind_of(d: &Value) -> (&str, &str) {
    (
        d["apiVersion"].as_str().unwrap_or(""),
        d["kind"].as_str().unwrap_or(""),
    )
}

/// The lane-image default the committed Tasks carry (None: generated without --task-image).
fn committed_task_image() -> Option<String> {
    let text = std::fs::read_to_string(common::repo_root().join("tasks/plan.yaml")).unwrap();
    let task = &docs(&text)[0];
    task["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lane-image")
        .and_then(|p| p["default"].as_str().map(str::to_string))
}

fn generate(deploy: &Path, out: &Path, task_image: Option<&str>) {
    let mut args = vec![
        "generate".to_string(),
        "--deploy".into(),
        deploy.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(i) = task_image {
        args.push("--task-image".into());
        args.push(i.into());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    common::lane(&common::repo_root(), &a).assert_code(0);
}

fn fresh(task_image: Option<&str>) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let dir = common::tempdir();
    generate(&common::shipped_deploy(), dir.path(), task_image);
    let tree = read_tree(dir.path());
    (dir, tree)
}

#[test]
fn committed_files_equal_a_fresh_generation() {
    let image = committed_task_image();
    let committed = read_tree(&common::repo_root());
    let (_d, generated) = fresh(image.as_deref());
    assert!(generated.len() >= 12, "generated: {:?}", generated.keys());
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "committed and generated file sets differ"
    );
    for (path, text) in &generated {
        assert!(
            committed[path] == *text,
            "{path} differs from a fresh generation: run `lane generate{}`",
            image
                .as_deref()
                .map(|i| format!(" --task-image {i}"))
                .unwrap_or_default()
        );
    }
    // `--check` agrees, and names a file that was edited by hand.
    let root = common::repo_root();
    let mut args = vec!["generate", "--check", "--out", "."];
    if let Some(i) = image.as_deref() {
        args.extend(["--task-image", i]);
    }
    common::lane(&root, &args).assert_code(0);
    let copy = common::tempdir();
    generate(&common::shipped_deploy(), copy.path(), image.as_deref());
    let edited = copy.path().join("pipelines/pipeline.yaml");
    let t = std::fs::read_to_string(&edited)
        .unwrap()
        .replace("10m", "11m");
    std::fs::write(&edited, t).unwrap();
    std::fs::remove_file(copy.path().join("gitops/application.yaml")).unwrap();
    let out = copy.path().display().to_string();
    let deploy = common::shipped_deploy().display().to_string();
    let mut args = vec!["generate", "--check", "--deploy", &deploy, "--out", &out];
    if let Some(i) = image.as_deref() {
        args.extend(["--task-image", i]);
    }
    let run = common::lane(&root, &args);
    run.assert_code(1);
    let doc: GenerateReport = run.report();
    assert_eq!(
        doc.differing,
        ["gitops/application.yaml", "pipelines/pipeline.yaml"]
    );
}

#[test]
fn generation_is_deterministic_and_rejects_unpinned_task_images() {
    let (_a, one) = fresh(Some(TEST_TASK_IMAGE));
    let (_b, two) = fresh(Some(TEST_TASK_IMAGE));
    assert_eq!(one, two);
    let dir = common::tempdir();
    let out = dir.path().display().to_string();
    let deploy = common::shipped_deploy().display().to_string();
    let run = common::lane(
        &common::repo_root(),
        &[
            "generate",
            "--deploy",
            &deploy,
            "--out",
            &out,
            "--task-image",
            "lane:latest",
        ],
    );
    run.assert_code(2);
    assert!(run.error().error.message.contains("not pinned"));
    assert!(
        read_tree(dir.path()).is_empty(),
        "nothing may be written on failure"
    );
}

fn shared_schemas() -> PathBuf {
    // ../shared beside the repository; a helper worktree sits one level deeper.
    for rel in ["../shared/schemas", "../../shared/schemas"] {
        let p = common::repo_root().join(rel);
        if p.is_dir() {
            return p;
        }
    }
    common::shared_schemas()
}

/// The schema file for a document, from its apiVersion/kind; None when upstream has none.
fn schema_for(api: &str, kind: &str) -> Option<PathBuf> {
    let (group, version) = api.split_once('/')?;
    let p = shared_schemas()
        .join(group)
        .join(format!("{}_{version}.json", kind.to_ascii_lowercase()));
    p.is_file().then_some(p)
}

/// Validate instances with check-jsonschema, one run per schema.
fn check_jsonschema(items: Vec<(PathBuf, String, Value)>) {
    let tool = common::tools::require("check-jsonschema");
    let dir = common::tempdir();
    let mut by_schema: BTreeMap<PathBuf, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (i, (schema, label, doc)) in items.into_iter().enumerate() {
        let f = dir.path().join(format!("doc-{i}.json"));
        std::fs::write(&f, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        by_schema.entry(schema).or_default().push((label, f));
    }
    for (schema, files) in by_schema {
        let out = Command::new(&tool)
            .arg("--schemafile")
            .arg(&schema)
            .args(files.iter().map(|(_, f)| f))
            .output()
            .expect("run check-jsonschema");
        assert!(
            out.status.success(),
            "schema {} rejected {:?}:\n{}{}",
            schema.display(),
            files.iter().map(|(l, _)| l).collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_document_validates_against_its_upstream_schema() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let mut items = Vec::new();
    let mut core = Vec::new();
    let mut kinds = BTreeSet::new();
    for (path, doc) in all_docs(&tree) {
        let (api, kind) = kind_of(&doc);
        kinds.insert(format!("{api}/{kind}"));
        let label = format!("{path}: {kind} {}", doc["metadata"]["name"]);
        match api.split_once('/').map(|(g, _)| g).unwrap_or(api) {
            "tekton.dev" | "argoproj.io" => {
                let schema = schema_for(api, kind)
                    .unwrap_or_else(|| panic!("{label}: no schema for {api} {kind}"));
                items.push((schema, label, doc));
            }
            "triggers.tekton.dev" => {
                // Upstream ships only an EventListener schema (a stub); all three kinds also
                // get the structural test below. The TriggerTemplate's PipelineRun is a real
                // Tekton document and gets the real schema.
                if let Some(schema) = schema_for(api, kind) {
                    items.push((schema, label.clone(), doc.clone()));
                }
                if kind == "TriggerTemplate" {
                    for rt in doc["spec"]["resourcetemplates"].as_array().unwrap() {
                        let (a, k) = kind_of(rt);
                        let schema = schema_for(a, k).expect("resourcetemplate schema");
                        items.push((schema, format!("{label} resourcetemplate"), rt.clone()));
                    }
                }
            }
            "v1" | "rbac.authorization.k8s.io" | "batch" => core.push((label, doc)),
            _ => panic!("{label}: no schema for {api} {kind}"),
        }
    }
    for want in [
        "tekton.dev/v1/Task",
        "tekton.dev/v1/Pipeline",
        "tekton.dev/v1/PipelineRun",
        "argoproj.io/v1alpha1/AppProject",
        "argoproj.io/v1alpha1/Application",
        "triggers.tekton.dev/v1beta1/EventListener",
        "triggers.tekton.dev/v1beta1/TriggerBinding",
        "triggers.tekton.dev/v1beta1/TriggerTemplate",
        "v1/Namespace",
        "batch/v1/CronJob",
    ] {
        assert!(kinds.contains(want), "{want} missing from {kinds:?}");
    }
    check_jsonschema(items);
    // Namespace / ServiceAccount / Role / RoleBinding / ClusterRole(Binding) / CronJob: the
    // Kubernetes schemas.
    let tool = common::tools::require("kubernetes-validate");
    let dir = common::tempdir();
    let mut files = Vec::new();
    for (i, (_, doc)) in core.iter().enumerate() {
        let f = dir.path().join(format!("core-{i}.json"));
        std::fs::write(&f, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        files.push(f);
    }
    let out = Command::new(tool)
        .args(["--strict", "--quiet", "-k", "1.31.0"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn find<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(_, d)| d)
        .collect()
}

/// The shipped lane's names, as `lane validate` prints them. The generated Tekton and Argo
/// documents checked against them stay `Value`: they are Kubernetes manifests.
fn lane_names() -> LaneNames {
    let run = common::lane(
        &common::repo_root(),
        &["validate", &common::shipped_deploy().display().to_string()],
    );
    run.assert_code(0);
    run.report::<ValidateReport>().names.expect("names")
}

#[test]
fn triggers_have_the_required_structure() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let names = lane_names();
    let el = find(&docs, "EventListener")[0];
    let tb = find(&docs, "TriggerBinding")[0];
    let tt = find(&docs, "TriggerTemplate")[0];
    for d in [el, tb, tt] {
        assert_eq!(d["apiVersion"], "triggers.tekton.dev/v1beta1");
        assert_eq!(d["metadata"]["namespace"], names.tekton_namespace.as_str());
        assert!(d["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()));
    }
    // In-cluster Service only.
    let st = &el["spec"]["resources"]["kubernetesResource"]["serviceType"];
    assert!(st.is_null() || *st == "ClusterIP", "serviceType {st}");
    for (path, d) in &docs {
        let j = serde_json::to_string(d).unwrap();
        assert!(
            !j.contains("\"NodePort\"")
                && !j.contains("\"LoadBalancer\"")
                && !j.contains("\"hostPort\""),
            "{path}"
        );
    }
    assert!(el["spec"]["serviceAccountName"].as_str().is_some());
    let triggers = el["spec"]["triggers"].as_array().unwrap();
    assert_eq!(triggers.len(), 1);
    let tr = &triggers[0];
    let ic = tr["interceptors"].as_array().unwrap();
    assert_eq!(ic.len(), 2);
    assert_eq!(
        ic[0]["ref"],
        json!({"name": "github", "kind": "ClusterInterceptor"})
    );
    let param = |i: &Value, n: &str| -> Value {
        i["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .map(|p| p["value"].clone())
            .unwrap_or(Value::Null)
    };
    let secret = param(&ic[0], "secretRef");
    assert!(secret["secretName"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(secret["secretKey"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(param(&ic[0], "eventTypes"), json!(["push"]));
    assert_eq!(ic[1]["ref"]["name"], "cel");
    assert!(param(&ic[1], "filter").as_str().is_some());
    assert_eq!(param(&ic[1], "overlays")[0]["key"], "short");
    assert_eq!(tr["bindings"][0]["ref"], tb["metadata"]["name"]);
    assert_eq!(tr["template"]["ref"], tt["metadata"]["name"]);
    // Binding: full commit from body.after, the short name from the CEL overlay.
    let bp: BTreeMap<String, String> = tb["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(bp["revision"], "$(body.after)");
    assert_eq!(bp["short"], "$(extensions.short)");
    assert!(bp["repo-url"].starts_with("$(body.repository."));
    // Template: declares exactly what the binding gives (plus params with a default, such as
    // the lane image), every one described and used.
    let tp: Vec<&str> = tt["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("default").is_none())
        .map(|p| {
            assert!(p["description"].as_str().is_some_and(|d| !d.is_empty()));
            p["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        tp.iter().copied().collect::<BTreeSet<_>>(),
        bp.keys().map(String::as_str).collect()
    );
    let rts = tt["spec"]["resourcetemplates"].as_array().unwrap();
    assert_eq!(rts.len(), 1);
    let pr = &rts[0];
    let rendered = serde_json::to_string(pr).unwrap();
    for p in &tp {
        assert!(
            rendered.contains(&format!("$(tt.params.{p})")),
            "param {p} unused"
        );
    }
    assert_eq!(pr["kind"], "PipelineRun");
    assert_eq!(
        pr["metadata"]["name"],
        format!("{}$(tt.params.short)", names.pipeline_run_prefix)
    );
    assert_eq!(pr["spec"]["pipelineRef"]["name"], names.pipeline.as_str());
    let revision = pr["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "revision")
        .unwrap();
    assert_eq!(revision["value"], "$(tt.params.revision)");
    assert_pipelinerun_runtime(pr, &names);
}

fn assert_pipelinerun_runtime(pr: &Value, names: &LaneNames) {
    let trt = &pr["spec"]["taskRunTemplate"];
    assert_eq!(
        trt["serviceAccountName"],
        names.tekton_service_account.as_str()
    );
    assert_eq!(trt["podTemplate"]["hostNetwork"], true);
    assert_eq!(trt["podTemplate"]["dnsPolicy"], "ClusterFirstWithHostNet");
    assert!(
        trt["podTemplate"].get("env").is_none(),
        "proxy only as step env"
    );
    let ws: BTreeMap<&str, &Value> = pr["spec"]["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w))
        .collect();
    assert!(ws["source"].get("volumeClaimTemplate").is_some());
    assert!(ws["ssh-directory"]["secret"]["secretName"]
        .as_str()
        .is_some());
    assert!(ws["docker-config"]["secret"]["secretName"]
        .as_str()
        .is_some());
}

fn tasks(docs: &[(String, Value)]) -> Vec<&Value> {
    find(docs, "Task")
}

fn steps(task: &Value) -> &Vec<Value> {
    task["spec"]["steps"].as_array().unwrap()
}

#[test]
fn scripts_never_interpolate_tekton_variables() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let ts = tasks(&docs);
    assert_eq!(ts.len(), 6);
    for t in ts {
        for s in steps(t) {
            let who = format!("{} step {}", t["metadata"]["name"], s["name"]);
            let script = s["script"].as_str().unwrap_or("");
            assert!(!script.is_empty() || s.get("command").is_some(), "{who}");
            for var in [
                "$(params.",
                "$(context.",
                "$(tasks.",
                "$(results.",
                "$(workspaces.",
                "$(steps.",
            ] {
                assert!(!script.contains(var), "{who}: script contains {var}");
                if let Some(args) = s["args"].as_array() {
                    assert!(
                        args.iter().all(|a| !a.as_str().unwrap().contains(var)),
                        "{who}: args"
                    );
                }
            }
            // And every param the Task declares reaches the steps through env only.
            let env = serde_json::to_string(&s["env"]).unwrap();
            for p in t["spec"]["params"].as_array().unwrap() {
                let var = format!("$(params.{})", p["name"].as_str().unwrap());
                if env.contains(&var) {
                    assert!(!script.contains(&var));
                }
            }
        }
    }
}

/// The image of a step with `$(params.X)` resolved to X's default.
fn step_image(task: &Value, step: &Value) -> Option<String> {
    let img = step["image"].as_str().unwrap();
    match img
        .strip_prefix("$(params.")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(p) => task["spec"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == p)
            .unwrap_or_else(|| panic!("image param {p} is not declared"))
            .get("default")
            .and_then(|d| d.as_str().map(str::to_string)),
        None => Some(img.to_string()),
    }
}

fn pinned(img: &str) -> bool {
    img.rsplit_once("@sha256:").is_some_and(|(r, h)| {
        !r.is_empty() && h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[test]
fn every_step_image_is_pinned_by_digest() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    for t in tasks(&docs) {
        for s in steps(t) {
            let img = step_image(t, s).expect("a default");
            assert!(
                pinned(&img),
                "{} {}: {img}",
                t["metadata"]["name"],
                s["name"]
            );
        }
    }
    // The task image given to generate is the default of every lane-image param.
    let lane_steps = tasks(&docs)
        .iter()
        .flat_map(|t| steps(t).iter().map(move |s| (*t, s)))
        .filter(|(_, s)| s["image"] == "$(params.lane-image)")
        .count();
    assert!(lane_steps >= 8);
    assert!(
        tree.values()
            .filter(|t| t.contains(TEST_TASK_IMAGE))
            .count()
            >= 7
    );
    // Without --task-image the lane image is a required param (no default), never a tag.
    let (_e, bare) = fresh(None);
    for t in tasks(&all_docs(&bare)) {
        for s in steps(t) {
            match step_image(t, s) {
                Some(img) => assert!(pinned(&img)),
                None => assert_eq!(s["image"], "$(params.lane-image)"),
            }
        }
    }
    // The committed files: whatever they carry is pinned.
    let committed = read_tree(&common::repo_root());
    for t in tasks(&all_docs(&committed)) {
        for s in steps(t) {
            if let Some(img) = step_image(t, s) {
                assert!(pinned(&img), "committed {}: {img}", t["metadata"]["name"]);
            }
        }
    }
}

#[test]
fn every_param_result_and_workspace_is_described() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let mut checked = 0;
    for d in find(&docs, "Task")
        .into_iter()
        .chain(find(&docs, "Pipeline"))
    {
        for field in ["params", "results", "workspaces"] {
            for p in d["spec"][field].as_array().into_iter().flatten() {
                let desc = p["description"].as_str().unwrap_or("");
                assert!(
                    desc.trim().len() >= 10,
                    "{} {field} {} has no description",
                    d["metadata"]["name"],
                    p["name"]
                );
                checked += 1;
            }
        }
        assert!(d["spec"]["description"]
            .as_str()
            .is_some_and(|s| s.len() > 20));
    }
    assert!(checked > 40, "{checked}");
}

#[test]
fn pipeline_builds_only_affected_services_then_promotes_once() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let names = lane_names();
    let p = find(&docs, "Pipeline")[0];
    assert_eq!(p["metadata"]["name"], names.pipeline.as_str());
    let tasks: BTreeMap<&str, &Value> = p["spec"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t))
        .collect();
    assert_eq!(
        tasks.keys().copied().collect::<Vec<_>>(),
        [
            "build-publish",
            "plan",
            "prepare-source",
            "promote",
            "validate",
            "verify"
        ]
    );
    let bp = tasks["build-publish"];
    assert_eq!(
        bp["matrix"]["params"],
        json!([{"name": "service", "value": "$(tasks.plan.results.affected[*])"}])
    );
    assert_eq!(
        bp["when"],
        json!([{"input": "$(tasks.plan.results.build)", "operator": "in", "values": ["true"]}])
    );
    let promote = tasks["promote"];
    assert!(promote.get("matrix").is_none(), "promote runs once");
    assert_eq!(promote["runAfter"], json!(["build-publish"]));
    assert_eq!(tasks["verify"]["runAfter"], json!(["promote"]));
    // A superseded (late, older) run skips verify instead of judging a release it did not make.
    assert_eq!(
        tasks["verify"]["when"],
        json!([{"input": "$(tasks.promote.results.outcome)", "operator": "in", "values": ["committed", "noop"]}])
    );
    // Every taskRef names a generated Task; every Task param without default is given.
    let defs: BTreeMap<&str, &Value> = find(&docs, "Task")
        .into_iter()
        .map(|t| (t["metadata"]["name"].as_str().unwrap(), t))
        .collect();
    for (name, t) in &tasks {
        let def = defs[t["taskRef"]["name"].as_str().unwrap()];
        let given: BTreeSet<&str> = t["params"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(t["matrix"]["params"].as_array().into_iter().flatten())
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        for dp in def["spec"]["params"].as_array().unwrap() {
            if dp.get("default").is_none() {
                assert!(
                    given.contains(dp["name"].as_str().unwrap()),
                    "{name}: {}",
                    dp["name"]
                );
            }
        }
        let ws: BTreeSet<&str> = t["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap())
            .collect();
        for dw in def["spec"]["workspaces"].as_array().unwrap() {
            if dw["optional"] != true {
                assert!(
                    ws.contains(dw["name"].as_str().unwrap()),
                    "{name}: {}",
                    dw["name"]
                );
            }
        }
    }
    let ex = find(&docs, "PipelineRun")[0];
    assert_eq!(ex["spec"]["pipelineRef"]["name"], names.pipeline.as_str());
    assert_pipelinerun_runtime(ex, &names);
}

#[test]
fn proxy_is_step_env_from_deploy_json() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let deploy: Value =
        serde_json::from_str(&std::fs::read_to_string(common::shipped_deploy()).unwrap()).unwrap();
    let proxy = &deploy["lane"]["proxy"];
    let no_proxy = proxy["noProxy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    let mut with_proxy = BTreeSet::new();
    for t in tasks(&docs) {
        for s in steps(t) {
            let env: BTreeMap<&str, &str> = s["env"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap(),
                        e["value"].as_str().unwrap_or(""),
                    )
                })
                .collect();
            if let Some(v) = env.get("HTTPS_PROXY") {
                assert_eq!(*v, proxy["httpsProxy"]);
                assert_eq!(env["HTTP_PROXY"], proxy["httpProxy"]);
                assert_eq!(env["NO_PROXY"], no_proxy);
                assert_eq!(env["no_proxy"], no_proxy);
                with_proxy.insert(format!(
                    "{}/{}",
                    t["metadata"]["name"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                ));
            }
        }
    }
    for step in [
        "prepare-source/checkout",
        "build-publish/build",
        "promote/promote",
        "verify/verify",
    ] {
        assert!(
            with_proxy.iter().any(|s| s.ends_with(step)),
            "{step} has no proxy env: {with_proxy:?}"
        );
    }
    // Never global: not in a pod template, not written into git or container config.
    for (path, t) in &tree {
        assert!(!t.contains("git config --global"), "{path}");
        assert!(!t.contains("http.proxy"), "{path}");
    }
}

#[test]
fn argo_bootstrap_admits_only_the_lane() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let names = lane_names();
    let proj = find(&docs, "AppProject")[0];
    assert_eq!(proj["metadata"]["name"], names.argo_project.as_str());
    assert_eq!(proj["metadata"]["namespace"], "argocd");
    assert_eq!(
        proj["spec"]["destinations"],
        json!([{"server": "https://kubernetes.default.svc", "namespace": names.namespace}])
    );
    assert_eq!(proj["spec"]["sourceRepos"], json!([names.gitops_repo]));
    assert_eq!(
        proj["spec"]["clusterResourceWhitelist"],
        json!([{"group": "", "kind": "Namespace"}])
    );
    let kinds: BTreeSet<(String, String)> = proj["spec"]["namespaceResourceWhitelist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["group"].as_str().unwrap().into(),
                k["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("", "ServiceAccount"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("", "ConfigMap"),
        ("", "PersistentVolumeClaim"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("", "Service"),
        ("apps", "Deployment"),
        ("batch", "CronJob"),
    ]
    .iter()
    .map(|(g, k)| (g.to_string(), k.to_string()))
    .collect();
    assert_eq!(kinds, want);
    let app = find(&docs, "Application")[0];
    assert_eq!(app["metadata"]["name"], names.argo_application.as_str());
    assert_eq!(app["metadata"]["namespace"], "argocd");
    assert_eq!(app["spec"]["project"], names.argo_project.as_str());
    assert_eq!(
        app["spec"]["source"],
        json!({"repoURL": names.gitops_repo, "targetRevision": names.gitops_branch, "path": names.runtime_path})
    );
    assert_eq!(
        app["spec"]["destination"],
        json!({"server": "https://kubernetes.default.svc", "namespace": names.namespace})
    );
    assert_eq!(
        app["spec"]["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true})
    );
    assert_eq!(
        app["spec"]["syncPolicy"]["syncOptions"],
        json!(["CreateNamespace=true"])
    );
}

/// Run the generated CEL filter and overlay on a fixture with cel-python.
fn eval_cel(filter: &str, overlay: &str, fixture: &str) -> Value {
    let python = common::tools::require("python3");
    let script = common::repo_root().join("tests/fixtures/github/eval_cel.py");
    let body = std::fs::read(
        common::repo_root()
            .join("tests/fixtures/github")
            .join(fixture),
    )
    .unwrap();
    let mut child = Command::new(python)
        .arg(script)
        .arg(filter)
        .arg(format!("short={overlay}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "eval_cel.py failed (is cel-python installed? scripts/install-test-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cel_of(tree: &BTreeMap<String, String>) -> (String, String) {
    let docs = all_docs(tree);
    let el = find(&docs, "EventListener")[0];
    let cel = &el["spec"]["triggers"][0]["interceptors"][1]["params"];
    let get = |n: &str| {
        cel.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()["value"]
            .clone()
    };
    (
        get("filter").as_str().unwrap().to_string(),
        get("overlays")[0]["expression"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[test]
fn cel_filter_triggers_only_on_the_source_branch() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let (filter, overlay) = cel_of(&tree);
    let hit = eval_cel(&filter, &overlay, "push-source-branch.json");
    assert_eq!(hit["match"], true, "{filter}");
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(
            common::repo_root().join("tests/fixtures/github/push-source-branch.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let after = body["after"].as_str().unwrap();
    assert_eq!(after.len(), 40);
    assert_eq!(hit["extensions"]["short"], after[..12]);
    for miss in [
        "push-gitops-branch.json",
        "push-tag.json",
        "push-other-branch.json",
        "push-source-branch-deleted.json",
        "push-source-branch-other-repo.json",
    ] {
        assert_eq!(
            eval_cel(&filter, &overlay, miss)["match"],
            false,
            "{miss} must not trigger"
        );
    }
    // The evaluator is real: a filter naming the GitOps branch matches that payload instead.
    let gitops_filter = filter.replace("refs/heads/v0.1'", "refs/heads/v0.1-gitops'");
    assert_ne!(gitops_filter, filter);
    assert_eq!(
        eval_cel(&gitops_filter, &overlay, "push-gitops-branch.json")["match"],
        true
    );
    assert_eq!(
        eval_cel(&gitops_filter, &overlay, "push-source-branch.json")["match"],
        false
    );
}

/// deploy.json for a new lane: another version, registry, proxy and repository.
fn lane_v02(dir: &Path) -> PathBuf {
    let mut d: Value =
        serde_json::from_str(&std::fs::read_to_string(common::shipped_deploy()).unwrap()).unwrap();
    d["lane"]["version"] = json!("v0.2");
    d["lane"]["registry"]["host"] = json!("10.20.30.40:5001");
    d["lane"]["proxy"] = json!({
        "httpProxy": "http://10.9.9.9:3128",
        "httpsProxy": "http://10.9.9.9:3129",
        "noProxy": ["example.internal", ".svc.cluster.local"]
    });
    d["lane"]["sourceRepo"] = json!("git@github.com:otherOrg/agentrun2.git");
    for s in d["services"].as_array_mut().unwrap() {
        for e in s["env"].as_array_mut().into_iter().flatten() {
            if e["value"].is_string() {
                e["value"] = json!(e["value"]
                    .as_str()
                    .unwrap()
                    .replace("v01", "v02")
                    .replace("v0.1", "v0.2"));
            }
            if e["secretKeyRef"].is_object() {
                e["secretKeyRef"]["name"] = json!("agentrun-v02-postgres");
            }
        }
    }
    let text = serde_json::to_string_pretty(&d)
        .unwrap()
        .replace("agentrun-v01-", "agentrun-v02-")
        .replace("agentrun_v01", "agentrun_v02");
    let p = dir.join("deploy.json");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_name_registry_and_proxy_comes_from_deploy_json() {
    let (_a, v01) = fresh(Some(TEST_TASK_IMAGE));
    let dir = common::tempdir();
    let deploy = lane_v02(dir.path());
    let out = dir.path().join("out");
    generate(&deploy, &out, Some(TEST_TASK_IMAGE));
    let v02 = read_tree(&out);
    assert_eq!(
        v01.keys().collect::<Vec<_>>(),
        v02.keys().collect::<Vec<_>>()
    );
    let all02: String = v02.values().cloned().collect();
    let all01: String = v01.values().cloned().collect();
    // Everything lane v0.1 owns, and its registry, proxy and NO_PROXY, is gone.
    for old in [
        "agentrun-v01",
        "v0.1-gitops",
        "runtime-v01",
        "refs/heads/v0.1'",
        "127.0.0.1:5000",
        "127.0.0.1:10808",
        "hyueapi.com",
        "pikasTech/agentrun",
        "(lane v0.1)",
    ] {
        assert!(all01.contains(old), "v0.1 output lacks {old}");
        assert!(!all02.contains(old), "v0.2 output still contains {old}");
    }
    for new in [
        "agentrun-v02-ci-image-publish",
        "agentrun-v02-tekton-runner",
        "agentrun-g14-v02",
        "v0.2-gitops",
        "deploy/gitops/g14/runtime-v02",
        "refs/heads/v0.2'",
        "10.20.30.40:5001/agentrun/agentrun-mgr",
        "http://10.9.9.9:3128",
        "http://10.9.9.9:3129",
        "example.internal,.svc.cluster.local",
        "otherOrg/agentrun2",
        "agentrun-v02-ci-$(tt.params.short)",
    ] {
        assert!(all02.contains(new), "v0.2 output lacks {new}");
    }
    // Every metadata.name in v0.2 differs from every v0.1 one, except the shared Triggers
    // ClusterRoles that both lanes bind to.
    let names = |tree: &BTreeMap<String, String>| -> BTreeSet<String> {
        all_docs(tree)
            .iter()
            .filter_map(|(_, d)| d["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    };
    let (mut n01, n02) = (names(&v01), names(&v02));
    assert!(n01.len() >= 15, "{n01:?}");
    // The CI namespace is the project's (every lane's runs live there): the same Namespace,
    // without a lane label, so that neither lane's apply changes the other's.
    let ci = lane_names().tekton_namespace.to_string();
    assert!(n01.remove(&ci) && n02.contains(&ci), "{ci}");
    for (_, d) in all_docs(&v01).iter().chain(all_docs(&v02).iter()) {
        if d["kind"] == "Namespace" {
            assert!(
                d["metadata"]["labels"].get("lane.dev/lane").is_none(),
                "{d}"
            );
        }
    }
    assert!(
        n01.is_disjoint(&n02),
        "shared: {:?}",
        n01.intersection(&n02).collect::<Vec<_>>()
    );
}

/// Run the generated build step's script on this machine (buildah, vfs, chroot) against a
/// real registry, with the env the Task gives it.
fn run_build_step(
    task: &Value,
    workspace: &Path,
    service: &str,
    commit: &str,
    storage: &Path,
) -> std::process::Output {
    let step = steps(task).iter().find(|s| s["name"] == "build").unwrap();
    let mut cmd = Command::new(common::tools::require("bash"));
    cmd.arg("-c")
        .arg(step["script"].as_str().unwrap())
        .current_dir(workspace);
    cmd.env_remove("HTTP_PROXY").env_remove("HTTPS_PROXY");
    for e in step["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match e["value"].as_str().unwrap() {
            "$(params.service)" => service.to_string(),
            "$(params.commit)" => commit.to_string(),
            "$(workspaces.docker-config.path)" => {
                workspace.join("no-docker-config").display().to_string()
            }
            v if v.starts_with("$(") => panic!("unexpected substitution {v} in the build step"),
            v => v.to_string(),
        };
        let value = if name == "STORAGE" {
            storage.display().to_string()
        } else {
            value
        };
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

#[test]
fn build_step_builds_labels_caches_and_pushes_with_buildah() {
    common::tools::require("buildah");
    let skopeo = common::tools::require("skopeo");
    let registry = common::registry::Registry::start_with(None);
    // The shipped lane, with the test registry as the lane registry.
    let dir = common::tempdir();
    let mut d: Value =
        serde_json::from_str(&std::fs::read_to_string(common::shipped_deploy()).unwrap()).unwrap();
    d["lane"]["registry"]["host"] = json!(registry.host);
    let deploy = dir.path().join("deploy.json");
    std::fs::write(&deploy, serde_json::to_vec_pretty(&d).unwrap()).unwrap();
    let out = dir.path().join("out");
    generate(&deploy, &out, Some(TEST_TASK_IMAGE));
    let tree = read_tree(&out);
    let docs = all_docs(&tree);
    let task = find(&docs, "Task")
        .into_iter()
        .find(|t| {
            t["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with("-build-publish")
        })
        .unwrap()
        .clone();
    // A workspace as prepare-source and plan leave it.
    let ws = dir.path().join("ws");
    let ctx = ws.join("src/apps/mgr");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello from the lane\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    let repo = format!("{}/agentrun/agentrun-mgr", registry.host);
    let plan = json!({"services": [{"id": "agentrun-mgr", "decision": "affected",
        "imageRepository": repo,
        "build": {"context": "apps/mgr", "dockerfile": "apps/mgr/Dockerfile"}}]});
    std::fs::create_dir_all(ws.join("lane")).unwrap();
    std::fs::write(
        ws.join("lane/plan.json"),
        serde_json::to_string_pretty(&plan).unwrap(),
    )
    .unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let storage = dir.path().join("buildah");
    let run = run_build_step(&task, &ws, "agentrun-mgr", commit, &storage);
    assert!(
        run.status.success(),
        "build step failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // Pushed under the full commit, with the provenance labels publish requires.
    let inspect = Command::new(&skopeo)
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{repo}:{commit}"),
        ])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let info: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let labels = &info["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], commit);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "git@github.com:pikasTech/agentrun.git"
    );
    assert_eq!(labels["dev.lane.service"], "agentrun-mgr");
    assert_eq!(labels["dev.lane.dockerfile"], "apps/mgr/Dockerfile");
    assert_eq!(labels["dev.lane.lane"], "v0.1");
    // The layer cache went to <repo>/cache in the same registry.
    let cache = Command::new(&skopeo)
        .args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repo}/cache"),
        ])
        .output()
        .unwrap();
    assert!(
        cache.status.success(),
        "no cache repository: {}",
        String::from_utf8_lossy(&cache.stderr)
    );
    let tags: Value = serde_json::from_slice(&cache.stdout).unwrap();
    assert!(!tags["Tags"].as_array().unwrap().is_empty());

    // A service this Task cannot build, and a plan that disagrees with the Task, both fail
    // before anything is built or pushed.
    let other = run_build_step(&task, &ws, "agentrun-nope", commit, &storage);
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("lane generate"));
    let stale = json!({"services": [{"id": "agentrun-mgr", "imageRepository": repo,
        "build": {"context": "apps/manager", "dockerfile": "apps/manager/Dockerfile"}}]});
    std::fs::write(
        ws.join("lane/plan.json"),
        serde_json::to_string(&stale).unwrap(),
    )
    .unwrap();
    let commit2 = "1123456789abcdef0123456789abcdef01234567";
    let drift = run_build_step(&task, &ws, "agentrun-mgr", commit2, &storage);
    assert!(!drift.status.success());
    assert!(String::from_utf8_lossy(&drift.stderr).contains("out of date"));
    let gone = Command::new(&skopeo)
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{repo}:{commit2}"),
        ])
        .output()
        .unwrap();
    assert!(
        !gone.status.success(),
        "nothing may be pushed for a rejected build"
    );
}

/// Run the shipped promote Task's `promote` step script on this machine, with the env the
/// Task gives it, against a real sshd: the ssh-directory workspace (key mounted 0644 and
/// known_hosts, as a Secret mounts them) must be what authenticates the push.
#[test]
fn promote_step_pushes_over_ssh_with_the_ssh_directory_workspace() {
    use common::promote::*;
    let sshd = common::sshd::Sshd::start();
    let text = std::fs::read_to_string(common::repo_root().join("tasks/promote.yaml")).unwrap();
    let task = docs(&text).remove(0);
    let step = steps(&task)
        .iter()
        .find(|s| s["name"] == "promote")
        .unwrap()
        .clone();

    // A source workspace as prepare-source and build-publish leave it.
    let deploy = deploy_json(0);
    let src = source_repo(&deploy);
    let commit = src.head();
    let dir = common::tempdir();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("lane/publish")).unwrap();
    common::gitrepo::git(
        dir.path(),
        &[
            "clone",
            "-q",
            src.path().to_str().unwrap(),
            ws.join("src").to_str().unwrap(),
        ],
    );
    publish_file(
        &ws.join("lane/publish"),
        "images.json",
        &commit,
        &all_images(&deploy, 7),
    );
    let (_remote_dir, remote) = common::gitrepo::bare_repo();
    let ssh_dir = sshd.workspace(&sshd.known_hosts_line());
    let results = dir.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    // The server trusts only the workspace's key; its host key is only in the workspace.
    let lane_dir = common::lane_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        lane_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut cmd = Command::new(common::tools::require("sh"));
    cmd.arg("-c")
        .arg(step["script"].as_str().unwrap())
        .current_dir(&ws)
        .env("PATH", path);
    for e in step["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match e["value"].as_str().unwrap() {
            "$(params.commit)" => commit.clone(),
            "$(params.init)" => "true".into(),
            "$(params.gitops-url)" => sshd.url(&remote),
            "$(params.pipeline-run)" => "agentrun-v01-ci-ssh".into(),
            "$(workspaces.ssh-directory.path)" => ssh_dir.path().display().to_string(),
            "$(results.gitops-commit.path)" => results.join("gitops-commit").display().to_string(),
            "$(results.outcome.path)" => results.join("outcome").display().to_string(),
            // The optional signing-key workspace, unbound (Tekton gives an empty path).
            "$(workspaces.signing-key.bound)" => "false".into(),
            "$(workspaces.signing-key.path)" => String::new(),
            v if v.starts_with("$(") => panic!("unexpected substitution {v} in the promote step"),
            _ if name.to_ascii_lowercase().ends_with("_proxy") => continue,
            v => v.to_string(),
        };
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "promote step failed:\n{stdout}\n{stderr}\nsshd:\n{}",
        sshd.log()
    );
    let head = remote_head(&remote, GITOPS_BRANCH).expect("GitOps branch pushed over ssh");
    assert_eq!(
        std::fs::read_to_string(results.join("gitops-commit")).unwrap(),
        head
    );
    assert_eq!(
        std::fs::read_to_string(results.join("outcome")).unwrap(),
        "committed"
    );
    assert!(sshd
        .log()
        .contains(&format!("Accepted publickey for {}", sshd.user)));
    for line in sshd
        .private_key()
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!stdout.contains(line) && !stderr.contains(line));
    }
}

/// The names of the Pipeline params a PipelineRun must give (no default).
fn required_pipeline_params(docs: &[(String, Value)]) -> BTreeSet<String> {
    find(docs, "Pipeline")[0]["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("default").is_none())
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn run_params(pr: &Value) -> BTreeMap<String, String> {
    pr["spec"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Real Tekton refuses a PipelineRun that lacks a Pipeline param without default
/// (`ParameterMissing`); the Triggers sink leaves a `$(tt.params.x)` it cannot resolve in place.
/// So the example and the trigger's run give every required param, and every TriggerTemplate
/// param the run uses has a default or a TriggerBinding value — with and without --task-image.
#[test]
fn every_pipeline_run_gives_every_required_pipeline_param() {
    for image in [None, Some(TEST_TASK_IMAGE)] {
        let (_d, tree) = fresh(image);
        let docs = all_docs(&tree);
        let required = required_pipeline_params(&docs);
        let tt = find(&docs, "TriggerTemplate")[0];
        let runs: Vec<(&str, &Value)> = vec![
            (
                "pipelines/pipelinerun-example.yaml",
                find(&docs, "PipelineRun")[0],
            ),
            ("the TriggerTemplate", &tt["spec"]["resourcetemplates"][0]),
        ];
        for (what, pr) in &runs {
            let given = run_params(pr);
            for r in &required {
                assert!(
                    given.contains_key(r),
                    "{what} (task image {image:?}) does not give the Pipeline's required param {r}: real Tekton stops it with ParameterMissing"
                );
            }
            if let Some(i) = image {
                assert_eq!(
                    given["lane-image"].as_str(),
                    if *what == "the TriggerTemplate" {
                        "$(tt.params.lane-image)"
                    } else {
                        i
                    }
                );
            }
        }
        // Every $(tt.params.x) resolves: a default, or a value from the EventListener's binding.
        let bound: BTreeSet<&str> = find(&docs, "TriggerBinding")[0]["spec"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let declared: BTreeMap<&str, &Value> = tt["spec"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p))
            .collect();
        let text = serde_json::to_string(&tt["spec"]["resourcetemplates"]).unwrap();
        let used: BTreeSet<String> = regex_lite::Regex::new(r"\$\(tt\.params\.([a-z0-9-]+)\)")
            .unwrap()
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .collect();
        assert!(used.contains("lane-image"), "{used:?}");
        for u in &used {
            let p = declared
                .get(u.as_str())
                .unwrap_or_else(|| panic!("tt.params.{u} is not a TriggerTemplate param"));
            assert!(
                p.get("default").is_some() || bound.contains(u.as_str()),
                "tt.params.{u} has no default and no binding (task image {image:?})"
            );
        }
        let lane_default = declared["lane-image"]["default"].as_str().unwrap();
        match image {
            Some(i) => assert_eq!(lane_default, i),
            None => assert!(
                lane_default.ends_with(&format!("@sha256:{}", "0".repeat(64))),
                "{lane_default}"
            ),
        }
    }
}

/// Inside a Task, Tekton substitutes only `context.taskRun.*` and `context.task.*`;
/// `$(context.pipelineRun.name)` there reaches the step as the literal string. The Pipeline
/// passes the run's name as the `pipeline-run` param instead.
#[test]
fn tasks_get_the_pipeline_run_name_from_the_pipeline() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let mut takers = BTreeSet::new();
    for t in tasks(&docs) {
        let name = t["metadata"]["name"].as_str().unwrap().to_string();
        let text = serde_json::to_string(t).unwrap();
        for bad in [
            "$(context.pipelineRun.",
            "$(context.pipeline.",
            "$(context.pipelineTask.",
        ] {
            assert!(
                !text.contains(bad),
                "Task {name} uses {bad}…): Tekton leaves it unsubstituted in a Task"
            );
        }
        if t["spec"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "pipeline-run")
        {
            assert!(text.contains("$(params.pipeline-run)"), "{name}");
            takers.insert(name);
        }
    }
    let prefix = lane_names().pipeline_run_prefix;
    assert_eq!(prefix, "agentrun-v01-ci-");
    assert_eq!(
        takers,
        ["agentrun-v01-promote", "agentrun-v01-verify"]
            .map(String::from)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    let p = find(&docs, "Pipeline")[0];
    for pt in p["spec"]["tasks"].as_array().unwrap() {
        if takers.contains(pt["taskRef"]["name"].as_str().unwrap()) {
            let params = run_params(&json!({"spec": {"params": pt["params"]}}));
            assert_eq!(
                params["pipeline-run"], "$(context.pipelineRun.name)",
                "{}",
                pt["name"]
            );
        }
    }
}

/// Run one step script of a shipped Task on this machine with `env` for its substitutions.
fn run_step(
    task_file: &str,
    step_name: &str,
    cwd: &Path,
    subst: &[(&str, String)],
) -> std::process::Output {
    let text = std::fs::read_to_string(common::repo_root().join(task_file)).unwrap();
    let task = docs(&text).remove(0);
    let step = steps(&task)
        .iter()
        .find(|s| s["name"] == step_name)
        .unwrap()
        .clone();
    let lane_dir = common::lane_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        lane_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(common::tools::require("sh"));
    cmd.arg("-c")
        .arg(step["script"].as_str().unwrap())
        .current_dir(cwd)
        .env("PATH", path);
    for e in step["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap();
        let v = e["value"].as_str().unwrap();
        let value = match subst.iter().find(|(k, _)| *k == v) {
            Some((_, x)) => x.clone(),
            None if v.starts_with("$(") => panic!("unexpected substitution {v} in {step_name}"),
            None => v.to_string(),
        };
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

/// The promote and verify steps pass `--signing-key` / `--allowed-signers` exactly when their
/// optional workspace is bound (Tekton's `$(workspaces.NAME.bound)`), with the file each
/// workspace documents. `lane` is replaced by a stub that records its arguments.
#[test]
fn signing_workspaces_reach_promote_and_verify_only_when_bound() {
    let dir = common::tempdir();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("lane");
    std::fs::write(
        &stub,
        "#!/bin/sh
printf '%s\n' \"$@\" > \"$LANE_STUB_ARGS\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |task: &str, step: &str, bound: bool| -> Vec<String> {
        let text = std::fs::read_to_string(common::repo_root().join(task)).unwrap();
        let t = docs(&text).remove(0);
        let s = steps(&t)
            .iter()
            .find(|s| s["name"] == step)
            .unwrap()
            .clone();
        let args_file = dir.path().join(format!("{step}-{bound}.args"));
        let mut cmd = Command::new(common::tools::require("sh"));
        cmd.arg("-c")
            .arg(s["script"].as_str().unwrap())
            .current_dir(dir.path())
            .env("LANE_STUB_ARGS", &args_file)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            );
        for e in s["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap();
            let v = e["value"].as_str().unwrap();
            let value = match v {
                "$(workspaces.signing-key.bound)" | "$(workspaces.allowed-signers.bound)" => {
                    bound.to_string()
                }
                "$(workspaces.signing-key.path)" => "/workspace/signing-key".into(),
                "$(workspaces.allowed-signers.path)" => "/workspace/allowed-signers".into(),
                "$(workspaces.ssh-directory.path)" => {
                    dir.path().join("no-ssh").display().to_string()
                }
                "$(params.init)" => "false".into(),
                "$(params.skip)" => "".into(),
                v if v.starts_with("$(") => format!("<{v}>"),
                v => v.into(),
            };
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&args_file)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let after = |args: &[String], flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    let promote = run("tasks/promote.yaml", "promote", true);
    assert_eq!(promote[0], "promote");
    assert_eq!(
        after(&promote, "--signing-key").as_deref(),
        Some("/workspace/signing-key/ssh-privatekey")
    );
    assert!(!run("tasks/promote.yaml", "promote", false).contains(&"--signing-key".to_string()));
    let verify = run("tasks/verify.yaml", "verify", true);
    assert_eq!(verify[0], "verify");
    assert_eq!(
        after(&verify, "--allowed-signers").as_deref(),
        Some("/workspace/allowed-signers/allowed_signers")
    );
    assert!(!run("tasks/verify.yaml", "verify", false).contains(&"--allowed-signers".to_string()));
    // The Pipeline declares both optional and hands them to the two Tasks.
    let text =
        std::fs::read_to_string(common::repo_root().join("pipelines/pipeline.yaml")).unwrap();
    let p = docs(&text).remove(0);
    for ws in ["signing-key", "allowed-signers"] {
        let decl = p["spec"]["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == ws)
            .unwrap_or_else(|| panic!("Pipeline workspace {ws}"));
        assert_eq!(decl["optional"], true);
    }
    let bound_in = |task: &str, ws: &str| {
        p["spec"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == task)
            .unwrap()["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == ws && w["workspace"] == ws)
    };
    assert!(bound_in("promote", "signing-key"));
    assert!(bound_in("verify", "allowed-signers"));
}

/// The validate Task judges the commit it is given, which need not be the branch tip any more
/// (a later push, a re-run of an older commit): promote decides what an older run may do.
/// Its `source` step passes there, and still fails a commit whose deploy.json is invalid.
#[test]
fn validate_source_step_judges_a_commit_behind_the_branch_tip() {
    use common::promote::*;
    let deploy = deploy_json(0);
    let src = source_repo(&deploy);
    let older = src.head();
    src.write("apps/mgr/app.txt", "two\n");
    let tip = src.commit("source: a later push");
    assert_ne!(older, tip);
    let dir = common::tempdir();
    let ws = dir.path().join("ws");
    let checkout = |rev: &str| {
        let _ = std::fs::remove_dir_all(&ws);
        std::fs::create_dir_all(&ws).unwrap();
        common::gitrepo::git(
            &ws,
            &[
                "clone",
                "-q",
                "--no-checkout",
                src.path().to_str().unwrap(),
                "src",
            ],
        );
        common::gitrepo::git(&ws.join("src"), &["checkout", "-q", "--detach", rev]);
        ws.join("src")
    };
    let src_dir = checkout(&older);
    assert_eq!(
        common::gitrepo::git(&src_dir, &["rev-parse", "refs/remotes/origin/v0.1"]),
        tip
    );
    let out = run_step(
        "tasks/validate.yaml",
        "source",
        &src_dir,
        &[("$(params.commit)", older.clone())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "validate's source step failed for a commit behind the tip:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The step prints lane verify's document.
    let report: lane::output::Document<VerifyReport> = serde_json::from_str(&stdout).unwrap();
    let ids: BTreeMap<&str, Status> = report
        .report
        .checks
        .iter()
        .map(|c| (c.id.as_str(), c.status))
        .collect();
    assert_eq!(ids["source.deploy-json"], Status::Pass, "{stdout}");
    assert_eq!(ids["source.untracked-generated"], Status::Pass, "{stdout}");
    assert_eq!(ids["source.clean"], Status::Skip, "{stdout}");

    // A commit (the new tip) with a broken deploy.json still fails.
    src.write("deploy/deploy.json", "{\"schemaVersion\": 1}\n");
    let broken = src.commit("source: break deploy.json");
    let src_dir = checkout(&broken);
    let out = run_step(
        "tasks/validate.yaml",
        "source",
        &src_dir,
        &[("$(params.commit)", broken)],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The utilities the lane image's step scripts call at command position.
fn lane_step_commands(docs: &[(String, Value)]) -> BTreeSet<String> {
    let cmd = regex_lite::Regex::new(
        r"(?:^|\$\(|\|\s*|&&\s*|\|\|\s*|;\s*|\bthen\s+|\bdo\s+|\belse\s+|!\s+|\bif\s+|\bexec\s+|\bwhile\s+)([A-Za-z_][A-Za-z0-9_.-]*)(?:\s|$|\))",
    )
    .unwrap();
    let sh = common::tools::require("sh");
    let path = format!(
        "{}:{}",
        common::lane_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut out = BTreeSet::new();
    for t in tasks(docs) {
        for s in steps(t) {
            if s["image"] != "$(params.lane-image)" {
                continue;
            }
            for line in s["script"].as_str().unwrap().lines() {
                let l = line.trim();
                if l.starts_with('#') {
                    continue;
                }
                for c in cmd.captures_iter(l) {
                    out.insert(c[1].to_string());
                }
            }
        }
    }
    // Keep what is a program (not a shell builtin or keyword) on this machine.
    out.into_iter()
        .filter(|w| {
            let t = Command::new(&sh)
                .args(["-c", &format!("type {w}")])
                .env("PATH", &path)
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&t.stdout).to_string();
            t.status.success() && !said.contains("builtin") && !said.contains("keyword")
        })
        .collect()
}

/// The task image that scripts/build-image.sh assembles has every program the lane steps'
/// scripts call (on the real cluster the first step stopped with `mktemp: not found`, 127).
#[test]
fn the_task_image_has_every_program_the_step_scripts_call() {
    let buildah = common::tools::require("buildah");
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let wanted = lane_step_commands(&docs);
    for w in ["git", "lane", "mktemp", "mkdir"] {
        assert!(wanted.contains(w), "{w} not found among {wanted:?}");
    }
    let work = common::tempdir();
    let (root, runroot) = (work.path().join("root"), work.path().join("run"));
    let out = Command::new(common::repo_root().join("scripts/build-image.sh"))
        .arg("--binary")
        .arg(common::lane_bin())
        .args(["--tag", "localhost/lane:tools-test"])
        .env("BUILDAH_ROOT", &root)
        .env("BUILDAH_RUNROOT", &runroot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bah = |args: &[&str]| {
        let o = Command::new(&buildah)
            .args(["--storage-driver", "vfs", "--root"])
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let ctr = bah(&["from", "--quiet", "localhost/lane:tools-test"]);
    let mnt = PathBuf::from(bah(&["mount", &ctr]));
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| {
            !["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
                .iter()
                .any(|d| {
                    mnt.join(d.trim_start_matches('/'))
                        .join(w.as_str())
                        .exists()
                })
        })
        .collect();
    bah(&["umount", &ctr]);
    bah(&["rm", &ctr]);
    assert!(
        missing.is_empty(),
        "the task image lacks {missing:?} (the step scripts call {wanted:?}): add them to scripts/build-image.sh"
    );
}

/// The EventListener's ServiceAccount reads no Secret outside the CI namespace: it is not bound
/// to Triggers' `tekton-triggers-eventlistener-clusterroles` (which grants every Secret of the
/// cluster); its cluster-wide role is the lane's own, with the cluster-scoped Triggers objects
/// only (the webhook Secret is read by the core interceptors' own ServiceAccount).
#[test]
fn the_event_listener_reads_no_secret_cluster_wide() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let el = find(&docs, "EventListener")[0];
    let sa = el["spec"]["serviceAccountName"].as_str().unwrap();
    let roles: BTreeMap<&str, &Value> = find(&docs, "ClusterRole")
        .into_iter()
        .map(|r| (r["metadata"]["name"].as_str().unwrap(), r))
        .collect();
    let mut cluster_bindings = 0;
    for b in find(&docs, "ClusterRoleBinding") {
        if !b["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa)
        {
            continue;
        }
        cluster_bindings += 1;
        let role = b["roleRef"]["name"].as_str().unwrap();
        let def = roles.get(role).unwrap_or_else(|| {
            panic!("{sa} is bound cluster-wide to {role}, a role lane does not define (Triggers' eventlistener-clusterroles grants every Secret)")
        });
        for rule in def["rules"].as_array().unwrap() {
            let res: Vec<&str> = rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert!(
                !res.iter().any(|r| *r == "secrets" || *r == "*"),
                "{role} grants {res:?} cluster-wide"
            );
            assert_eq!(rule["apiGroups"], json!(["triggers.tekton.dev"]), "{role}");
        }
    }
    assert_eq!(cluster_bindings, 1, "{sa}: one cluster-wide binding");
}

/// A cluster's own build image and its plain-HTTP registry are generation-time choices (a
/// run the trigger starts carries only the Pipeline's defaults): `--buildah-image` (pinned)
/// becomes the build image everywhere, `--allow-insecure-registry` the default of the param
/// that adds `lane publish --allow-insecure` — and without them, neither.
#[test]
fn generate_sets_the_build_image_and_the_registry_consent() {
    let deploy = common::shipped_deploy().display().to_string();
    let gen = |extra: &[&str]| {
        let dir = common::tempdir();
        let out = dir.path().display().to_string();
        let mut args = vec!["generate", "--deploy", &deploy, "--out", &out];
        args.extend_from_slice(extra);
        let run = common::lane(&common::repo_root(), &args);
        (dir, run)
    };
    let (_d, bad) = gen(&["--buildah-image", "registry.test/buildah:latest"]);
    bad.assert_code(2);
    let local = format!(
        "registry.test/lane-cluster/buildah@sha256:{}",
        "2".repeat(64)
    );
    for (extra, image, insecure) in [
        (vec![], BUILDAH_DEFAULT, "false"),
        (
            vec![
                "--buildah-image",
                local.as_str(),
                "--allow-insecure-registry",
            ],
            local.as_str(),
            "true",
        ),
    ] {
        let (dir, run) = gen(&extra);
        run.assert_code(0);
        let docs = all_docs(&read_tree(dir.path()));
        let default_of = |doc: &Value, name: &str| {
            doc["spec"]["params"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("no param {name}"))["default"]
                .clone()
        };
        let p = find(&docs, "Pipeline")[0];
        assert_eq!(default_of(p, "buildah-image"), image, "{extra:?}");
        assert_eq!(
            default_of(p, "allow-insecure-registry"),
            insecure,
            "{extra:?}"
        );
        let bp = tasks(&docs)
            .into_iter()
            .find(|t| t["metadata"]["name"] == "agentrun-v01-build-publish")
            .unwrap();
        assert_eq!(default_of(bp, "buildah-image"), image);
        // build-publish and promote pass the consent to lane publish, and only through it.
        let mut consenting = 0;
        for t in tasks(&docs) {
            for s in steps(t) {
                let script = s["script"].as_str().unwrap();
                if script.contains("--allow-insecure") {
                    consenting += 1;
                    assert!(
                        script.contains(
                            r#"[ "$ALLOW_INSECURE" = "true" ] && set -- "$@" --allow-insecure"#
                        ),
                        "{}/{}",
                        t["metadata"]["name"],
                        s["name"]
                    );
                    assert!(s["env"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["name"] == "ALLOW_INSECURE"
                            && e["value"] == "$(params.allow-insecure-registry)"));
                }
            }
        }
        assert_eq!(
            consenting, 2,
            "build-publish's publish and promote's publish-kept"
        );
    }
}

/// A deploy.json with `n` buildable services (the shipped mgr, copied under new ids).
fn lane_with_services(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(common::shipped_deploy()).unwrap();
    let mut d: Value = serde_json::from_str(&text).unwrap();
    let mut mgr = d["services"][0].clone();
    mgr.as_object_mut().unwrap().remove("volumes");
    mgr.as_object_mut().unwrap().remove("serviceAccount");
    let services = d["services"].as_array_mut().unwrap();
    for i in services.len()..n {
        let mut s = mgr.clone();
        s["id"] = json!(format!("agentrun-svc{i}"));
        services.push(s);
    }
    let path = dir.join("deploy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&d).unwrap()).unwrap();
    path
}

/// Tekton admits at most `default-max-matrix-combinations-count` (256) entries per matrix: a
/// lane with more buildable services than `--max-matrix` gets one build matrix per that many,
/// each fed by its own plan results and guarded by its own when-expression, and promote waits
/// for all of them. The plan step's split is run here on 10 ids for a cap of 4.
#[test]
fn a_lane_larger_than_the_matrix_cap_gets_one_build_matrix_per_cap() {
    let dir = common::tempdir();
    let deploy = lane_with_services(dir.path(), 10);
    let out = dir.path().join("out");
    let (d, o) = (deploy.display().to_string(), out.display().to_string());
    common::lane(
        &common::repo_root(),
        &["generate", "--deploy", &d, "--out", &o, "--max-matrix", "0"],
    )
    .assert_code(2);
    common::lane(
        &common::repo_root(),
        &[
            "generate",
            "--deploy",
            &d,
            "--out",
            &o,
            "--max-matrix",
            "4",
            "--task-image",
            TEST_TASK_IMAGE,
        ],
    )
    .assert_code(0);
    let docs = all_docs(&read_tree(&out));
    let p = find(&docs, "Pipeline")[0];
    let pts = p["spec"]["tasks"].as_array().unwrap();
    let builds: Vec<&Value> = pts
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("build-publish"))
        .collect();
    assert_eq!(builds.len(), 3, "ceil(10 / 4) matrices");
    for (t, (name, res, flag)) in builds.iter().zip([
        ("build-publish", "affected", "build"),
        ("build-publish-2", "affected-2", "build-2"),
        ("build-publish-3", "affected-3", "build-3"),
    ]) {
        assert_eq!(t["name"], name);
        assert_eq!(
            t["matrix"]["params"],
            json!([{"name": "service", "value": format!("$(tasks.plan.results.{res}[*])")}])
        );
        assert_eq!(
            t["when"],
            json!([{"input": format!("$(tasks.plan.results.{flag})"), "operator": "in", "values": ["true"]}])
        );
    }
    let promote = pts.iter().find(|t| t["name"] == "promote").unwrap();
    assert_eq!(
        promote["runAfter"],
        json!(["build-publish", "build-publish-2", "build-publish-3"])
    );
    let plan = tasks(&docs)
        .into_iter()
        .find(|t| t["metadata"]["name"] == "agentrun-v01-plan")
        .unwrap();
    let results: Vec<&str> = plan["spec"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for r in [
        "affected",
        "build",
        "affected-2",
        "build-2",
        "affected-3",
        "build-3",
    ] {
        assert!(results.contains(&r), "{r} in {results:?}");
    }
    // The split itself: the script after `lane "$@"`, on a plan of 10 affected ids.
    let script = steps(plan)[0]["script"].as_str().unwrap();
    let split = script.split_once("lane \"$@\"\n").unwrap().1;
    let work = common::tempdir();
    let f = |n: &str| work.path().join(n);
    std::fs::write(
        f("affected"),
        r#"["s0","s1","s2","s3","s4","s5","s6","s7","s8","s9"]"#,
    )
    .unwrap();
    let sh = common::tools::require("sh");
    let run = Command::new(&sh)
        .args(["-euc", split])
        .env("RESULT_AFFECTED", f("affected"))
        .env("RESULT_BUILD", f("build"))
        .env("RESULT_AFFECTED_2", f("affected-2"))
        .env("RESULT_BUILD_2", f("build-2"))
        .env("RESULT_AFFECTED_3", f("affected-3"))
        .env("RESULT_BUILD_3", f("build-3"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read = |n: &str| std::fs::read_to_string(f(n)).unwrap();
    assert_eq!(read("affected"), r#"["s0","s1","s2","s3"]"#);
    assert_eq!(read("affected-2"), r#"["s4","s5","s6","s7"]"#);
    assert_eq!(read("affected-3"), r#"["s8","s9"]"#);
    assert_eq!(
        (read("build"), read("build-2"), read("build-3")),
        ("true".into(), "true".into(), "true".into())
    );
    // One changed service: the other matrices are skipped by their when-expressions.
    std::fs::write(f("affected"), r#"["s5"]"#).unwrap();
    let run = Command::new(&sh)
        .args(["-euc", split])
        .env("RESULT_AFFECTED", f("affected"))
        .env("RESULT_BUILD", f("build"))
        .env("RESULT_AFFECTED_2", f("affected-2"))
        .env("RESULT_BUILD_2", f("build-2"))
        .env("RESULT_AFFECTED_3", f("affected-3"))
        .env("RESULT_BUILD_3", f("build-3"))
        .output()
        .unwrap();
    assert!(run.status.success());
    assert_eq!(read("affected"), r#"["s5"]"#);
    assert_eq!(
        (read("build"), read("build-2"), read("affected-3")),
        ("true".into(), "false".into(), "[]".into())
    );
    // More ids than the matrices hold (deploy.json gained services): refused, naming the fix.
    std::fs::write(
        f("affected"),
        format!(
            "[{}]",
            (0..13)
                .map(|i| format!("\"s{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
    .unwrap();
    let run = Command::new(&sh)
        .args(["-euc", split])
        .env("RESULT_AFFECTED", f("affected"))
        .env("RESULT_BUILD", f("build"))
        .env("RESULT_AFFECTED_2", f("affected-2"))
        .env("RESULT_BUILD_2", f("build-2"))
        .env("RESULT_AFFECTED_3", f("affected-3"))
        .env("RESULT_BUILD_3", f("build-3"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("run `lane generate`"));
}

/// The CI namespace's Pod Security labels are the least the build step needs: the step asks
/// for Unconfined seccomp and AppArmor (rootless buildah's user namespaces), which `baseline`
/// forbids, so `privileged` is enforced; audit and warn report what goes beyond `baseline`.
/// (`tests/tekton_cluster.rs` shows the API server refusing the real build pod under baseline.)
#[test]
fn the_ci_namespace_enforces_the_pod_security_level_the_build_step_needs() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let ns = find(&docs, "Namespace");
    assert_eq!(ns.len(), 1);
    let ns = ns[0];
    assert_eq!(
        ns["metadata"]["name"],
        lane_names().tekton_namespace.as_str()
    );
    let l = &ns["metadata"]["labels"];
    assert_eq!(l["pod-security.kubernetes.io/enforce"], "privileged");
    assert_eq!(l["pod-security.kubernetes.io/audit"], "baseline");
    assert_eq!(l["pod-security.kubernetes.io/warn"], "baseline");
    let bp = tasks(&docs)
        .into_iter()
        .find(|t| t["metadata"]["name"] == "agentrun-v01-build-publish")
        .unwrap();
    let build = &steps(bp)[0];
    assert_eq!(
        build["securityContext"]["seccompProfile"]["type"],
        "Unconfined"
    );
}

/// Tekton Chains reads type-hinted results: prepare-source gives `CHAINS-GIT_URL` and
/// `CHAINS-GIT_COMMIT` (the fetched URL and the checked-out commit), promote `IMAGES` (the
/// images this run built, by digest, from what build-publish leaves in `lane/images/`), and the
/// Pipeline lifts all three to PipelineRun results, where Chains finds its subjects.
#[test]
fn the_pipeline_run_carries_the_chains_type_hints() {
    let (_d, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs = all_docs(&tree);
    let p = find(&docs, "Pipeline")[0];
    let results: BTreeMap<&str, &str> = p["spec"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["value"].as_str().unwrap()))
        .collect();
    assert_eq!(results["IMAGES"], "$(tasks.promote.results.IMAGES)");
    assert_eq!(
        results["CHAINS-GIT_URL"],
        "$(tasks.prepare-source.results.CHAINS-GIT_URL)"
    );
    assert_eq!(
        results["CHAINS-GIT_COMMIT"],
        "$(tasks.prepare-source.results.CHAINS-GIT_COMMIT)"
    );
    let task = |n: &str| {
        tasks(&docs)
            .into_iter()
            .find(|t| t["metadata"]["name"] == format!("agentrun-v01-{n}"))
            .unwrap()
    };
    let checkout = steps(task("prepare-source"))[0]["script"].as_str().unwrap();
    assert!(checkout.contains(r#"printf '%s' "$REPO_URL" > "$RESULT_CHAINS_GIT_URL""#));
    assert!(checkout.contains(r#"printf '%s' "$COMMIT" > "$RESULT_CHAINS_GIT_COMMIT""#));
    // The provenance step on two built images and on none.
    let prov = steps(task("promote"))
        .iter()
        .find(|s| s["name"] == "provenance")
        .unwrap()["script"]
        .as_str()
        .unwrap()
        .to_string();
    let work = common::tempdir();
    let sh = common::tools::require("sh");
    let run = |work: &Path| {
        let out = work.join("IMAGES");
        let r = Command::new(&sh)
            .args(["-c", &prov])
            .current_dir(work)
            .env("RESULT_IMAGES", &out)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        std::fs::read_to_string(out).unwrap()
    };
    assert_eq!(run(work.path()), "");
    std::fs::create_dir_all(work.path().join("lane/images")).unwrap();
    let a = format!("reg.test/p/a@sha256:{}", "a".repeat(64));
    let b = format!("reg.test:5000/p/b@sha256:{}", "b".repeat(64));
    std::fs::write(work.path().join("lane/images/a"), &a).unwrap();
    std::fs::write(work.path().join("lane/images/b"), &b).unwrap();
    assert_eq!(run(work.path()), format!("{a}\n{b}\n"));
}

/// The pruner (`pipelines/prune.yaml`): a CronJob running `lane prune` for this lane's
/// Pipeline in the task image (so only generated with `--task-image`), whose ServiceAccount
/// may only list and delete PipelineRuns in the CI namespace, in a pod that meets `restricted`.
/// `tests/tekton_cluster.rs` runs it on the real cluster.
#[test]
fn finished_runs_are_pruned_by_a_narrow_cron_job_in_the_task_image() {
    let (_a, without) = fresh(None);
    assert!(!without.contains_key("pipelines/prune.yaml"));
    let (_b, tree) = fresh(Some(TEST_TASK_IMAGE));
    let docs: Vec<(String, Value)> = all_docs(&tree)
        .into_iter()
        .filter(|(p, _)| p == "pipelines/prune.yaml")
        .collect();
    let names = lane_names();
    let cj = find(&docs, "CronJob")[0];
    let pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], TEST_TASK_IMAGE);
    assert_eq!(
        c["args"],
        json!([
            "prune",
            "--namespace",
            names.tekton_namespace,
            "--pipeline",
            names.pipeline
        ])
    );
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    let role = find(&docs, "Role")[0];
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"], "verbs": ["list", "delete"]}])
    );
    assert_eq!(
        role["metadata"]["namespace"],
        names.tekton_namespace.as_str()
    );
    let rb = find(&docs, "RoleBinding")[0];
    assert_eq!(rb["subjects"][0]["name"], pod["serviceAccountName"]);
    assert!(find(&docs, "ClusterRoleBinding").is_empty());
    // The subcommand it runs refuses a name that is not a Kubernetes name before any request.
    let bad = common::lane(
        &common::repo_root(),
        &[
            "prune",
            "--namespace",
            "../x",
            "--pipeline",
            "p",
            "--api-server",
            "https://127.0.0.1:1",
            "--token-file",
            "/dev/null",
        ],
    );
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("not a Kubernetes object name")
            || bad.stdout.contains("not a Kubernetes object name"),
        "{}",
        bad.stdout
    );
}
