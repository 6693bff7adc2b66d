//! `render_tree`: the v0.1 lane renders a valid, deterministic, digest-pinned tree that
//! passes the real validators (kubernetes-validate --strict, kubectl kustomize).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::render::*;
use lane::render::{render_tree, RenderError};
use serde_json::{json, Value};

fn v01_tree() -> BTreeMap<String, String> {
    render_tree(&shipped_lane(), &v01_catalog())
        .expect("v0.1 renders")
        .files
}

const V01_FILES: &[&str] = &[
    "configmap-agentrun-mgr-config.yaml",
    "cronjob-agentrun-runner.yaml",
    "deployment-agentrun-mgr.yaml",
    "kustomization.yaml",
    "networkpolicy-agentrun-mgr-egress-1.yaml",
    "networkpolicy-agentrun-mgr-egress-2.yaml",
    "networkpolicy-agentrun-mgr-ingress-1.yaml",
    "networkpolicy-agentrun-mgr-ingress-2.yaml",
    "networkpolicy-agentrun-runner-egress-1.yaml",
    "networkpolicy-agentrun-runner-egress-2.yaml",
    "networkpolicy-agentrun-runner-egress-3.yaml",
    "networkpolicy-default-deny.yaml",
    "persistentvolumeclaim-agentrun-v01-workspaces.yaml",
    "role-agentrun-v01-mgr.yaml",
    "rolebinding-agentrun-v01-mgr.yaml",
    "service-agentrun-mgr.yaml",
    "serviceaccount-agentrun-v01-mgr.yaml",
    "serviceaccount-agentrun-v01-runner.yaml",
];

#[test]
fn v01_renders_the_expected_objects() {
    let files = v01_tree();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, V01_FILES);
    let docs = parse_tree(&files);
    for (file, doc) in &docs {
        assert!(!file.contains('\r'));
        assert!(
            files[file].ends_with('\n') && !files[file].ends_with("\n\n"),
            "{file}"
        );
        if file == "kustomization.yaml" {
            let res: Vec<&str> = doc["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let want: Vec<&str> = V01_FILES
                .iter()
                .copied()
                .filter(|f| *f != "kustomization.yaml")
                .collect();
            assert_eq!(res, want);
            continue;
        }
        assert_eq!(doc["metadata"]["namespace"], "agentrun-v01", "{file}");
        assert_ne!(doc["kind"], "Secret");
        assert_ne!(doc["kind"], "Namespace");
        assert_eq!(doc["metadata"]["labels"]["lane.dev/lane"], "v0.1", "{file}");
        assert_eq!(
            doc["metadata"]["annotations"]["lane.dev/source-repo"],
            "git@github.com:pikasTech/agentrun.git",
            "{file}"
        );
        assert_eq!(
            doc["metadata"]["labels"]["lane.dev/source-commit"], COMMIT,
            "{file}"
        );
    }
}

fn pod_spec(doc: &Value) -> &Value {
    match doc["kind"].as_str().unwrap() {
        "Deployment" => &doc["spec"]["template"]["spec"],
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        k => panic!("no pod spec in {k}"),
    }
}

#[test]
fn workloads_are_digest_pinned_and_hardened() {
    let docs = parse_tree(&v01_tree());
    let mgr = &docs["deployment-agentrun-mgr.yaml"];
    let runner = &docs["cronjob-agentrun-runner.yaml"];
    let a = format!(
        "127.0.0.1:5000/agentrun/agentrun-mgr@sha256:{}",
        "a".repeat(64)
    );
    let b = format!(
        "127.0.0.1:5000/agentrun/agentrun-runner@sha256:{}",
        "b".repeat(64)
    );
    assert_eq!(pod_spec(mgr)["containers"][0]["image"], json!(a));
    assert_eq!(pod_spec(runner)["containers"][0]["image"], json!(b));
    assert_eq!(pod_spec(runner)["initContainers"][0]["image"], json!(b));
    for doc in [mgr, runner] {
        let p = pod_spec(doc);
        assert_eq!(p["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            p["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        for c in p["containers"].as_array().unwrap().iter().chain(
            p["initContainers"]
                .as_array()
                .map(|v| v.iter())
                .into_iter()
                .flatten(),
        ) {
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        }
    }
    // Pod template: image identity, never the run's source commit.
    let tmpl = &mgr["spec"]["template"]["metadata"];
    assert_eq!(tmpl["labels"]["lane.dev/service"], "agentrun-mgr");
    assert_eq!(tmpl["labels"]["lane.dev/image-commit"], COMMIT);
    assert_eq!(
        tmpl["annotations"]["lane.dev/image-digest"],
        json!(format!("sha256:{}", "a".repeat(64)))
    );
    assert!(tmpl["labels"].get("lane.dev/source-commit").is_none());
    assert_eq!(
        mgr["spec"]["selector"]["matchLabels"],
        json!({"lane.dev/service": "agentrun-mgr"})
    );
    // The DSN only via secretKeyRef; config via envFrom.
    let env = &pod_spec(mgr)["containers"][0]["env"];
    let dsn = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DATABASE_URL")
        .unwrap();
    assert_eq!(
        dsn["valueFrom"]["secretKeyRef"],
        json!({"name": "agentrun-v01-postgres", "key": "DATABASE_URL"})
    );
    assert!(dsn.get("value").is_none());
    assert_eq!(
        pod_spec(mgr)["containers"][0]["envFrom"],
        json!([{"configMapRef": {"name": "agentrun-mgr-config"}}])
    );
    // Writable RWO claim: recreate, not a rolling update.
    assert_eq!(mgr["spec"]["strategy"]["type"], "Recreate");
}

#[test]
fn runner_is_a_suspended_cronjob_with_a_seeded_codex_home() {
    let docs = parse_tree(&v01_tree());
    let cj = &docs["cronjob-agentrun-runner.yaml"];
    assert_eq!(cj["metadata"]["name"], "agentrun-runner");
    assert_eq!(cj["spec"]["suspend"], true);
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
    let job = &cj["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"], 0);
    assert_eq!(job["activeDeadlineSeconds"], 7200);
    assert_eq!(job["ttlSecondsAfterFinished"], 86400);
    let pod = pod_spec(cj);
    assert_eq!(pod["restartPolicy"], "Never");
    let vols = pod["volumes"].as_array().unwrap();
    let secret = vols.iter().find(|v| v["name"] == "codex-auth").unwrap();
    assert_eq!(secret["secret"]["secretName"], "agentrun-v01-codex");
    assert_eq!(
        secret["secret"]["items"],
        json!([{"key": "auth.json", "path": "auth.json"}, {"key": "config.toml", "path": "config.toml"}])
    );
    let home = vols.iter().find(|v| v["name"] == "codex-home").unwrap();
    assert_eq!(home["emptyDir"], json!({"sizeLimit": "1Gi"}));
    let init = &pod["initContainers"][0];
    assert_eq!(init["command"][0], "sh");
    assert_eq!(init["command"][1], "-c");
    let script = init["command"][2].as_str().unwrap();
    assert!(script.contains("cp -L"), "{script}");
    assert_eq!(init["command"][4], "auth.json");
    assert_eq!(init["command"][5], "config.toml");
    let mounts = &init["volumeMounts"];
    assert_eq!(
        mounts[0],
        json!({"name": "codex-auth", "mountPath": "/var/run/agentrun/codex-secret", "readOnly": true})
    );
    assert_eq!(
        mounts[1],
        json!({"name": "codex-home", "mountPath": "/home/agentrun/.codex"})
    );
    let main = &pod["containers"][0];
    let env = main["env"].as_array().unwrap();
    let home_env = env.iter().find(|e| e["name"] == "CODEX_HOME").unwrap();
    assert_eq!(home_env["value"], "/home/agentrun/.codex");
    // The main container sees the writable copy, never the projection.
    let main_mounts: Vec<&str> = main["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(main_mounts, ["codex-home"]);
    // The manager's RBAC can read exactly this template.
    let role = &docs["role-agentrun-v01-mgr.yaml"];
    assert!(role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["resources"] == json!(["cronjobs"])
            && r["resourceNames"] == json!(["agentrun-runner"])));
}

#[test]
fn a_new_digest_is_an_update_of_the_same_cronjob() {
    let lane = shipped_lane();
    let old = render_tree(&lane, &v01_catalog()).unwrap();
    let other = "89abcdef0123456789abcdef0123456789abcdef";
    let mut cat = v01_catalog_json();
    let e = &mut cat["services"]["agentrun-runner"];
    e["digest"] = json!(format!("sha256:{}", "c".repeat(64)));
    e["tag"] = json!(other);
    e["sourceCommit"] = json!(other);
    let new = render_tree(&lane, &catalog(&cat)).unwrap();
    let f = "cronjob-agentrun-runner.yaml";
    assert_ne!(old.files[f], new.files[f]);
    // Only the runner's own files change; the object keeps its kind and name.
    let changed: Vec<&String> = new
        .files
        .keys()
        .filter(|k| old.files.get(*k) != new.files.get(*k))
        .collect();
    assert!(
        changed.iter().all(|k| k.contains("agentrun-runner")),
        "{changed:?}"
    );
    let (a, b) = (parse_tree(&old.files), parse_tree(&new.files));
    assert_eq!(a[f]["kind"], b[f]["kind"]);
    assert_eq!(a[f]["metadata"]["name"], b[f]["metadata"]["name"]);
    assert_eq!(a[f]["spec"]["suspend"], b[f]["spec"]["suspend"]);
    assert_eq!(
        pod_spec(&b[f])["containers"][0]["image"],
        json!(format!(
            "127.0.0.1:5000/agentrun/agentrun-runner@sha256:{}",
            "c".repeat(64)
        ))
    );
    // Everything but the image identity is equal: an in-place update of jobTemplate.
    let strip = |mut v: Value| {
        let s = v["spec"]["jobTemplate"].take();
        v["metadata"]["labels"]["lane.dev/source-commit"] = json!(null);
        v["metadata"]["annotations"] = json!(null);
        (v, s)
    };
    let (ma, ja) = strip(a[f].clone());
    let (mb, jb) = strip(b[f].clone());
    assert_eq!(ma, mb);
    assert_ne!(ja, jb);
    // Both versions pass the strict schema for the same object.
    let dir = common::tempdir();
    std::fs::write(dir.path().join("old.yaml"), &old.files[f]).unwrap();
    std::fs::write(dir.path().join("new.yaml"), &new.files[f]).unwrap();
    kubernetes_validate(dir.path(), &["old.yaml", "new.yaml"], "1.30.0");
}

fn kubernetes_validate(dir: &Path, files: &[&str], version: &str) {
    let bin = common::tools::require("kubernetes-validate");
    let out = Command::new(bin)
        .current_dir(dir)
        .args(["--strict", "-k", version])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubernetes-validate -k {version} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each file is reported as validated (never silently skipped).
    for f in files {
        assert!(stdout.contains(f), "{f} not validated:\n{stdout}");
    }
}

#[test]
fn v01_passes_kubernetes_validate_strict_on_supported_versions() {
    let files = v01_tree();
    let dir = common::tempdir();
    write_tree(dir.path(), &files);
    let objects: Vec<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|f| *f != "kustomization.yaml")
        .collect();
    for v in ["1.30.0", "1.33.0", "1.37.0"] {
        kubernetes_validate(dir.path(), &objects, v);
    }
}

#[test]
fn kubernetes_validate_catches_a_broken_manifest() {
    // The validator is real: an unknown field fails it (so the test above can fail).
    let files = v01_tree();
    let dir = common::tempdir();
    let bad = files["service-agentrun-mgr.yaml"].replace(
        "  type: \"ClusterIP\"\n",
        "  type: \"ClusterIP\"\n  tpye: \"x\"\n",
    );
    std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    let out = Command::new(common::tools::require("kubernetes-validate"))
        .current_dir(dir.path())
        .args(["--strict", "-k", "1.30.0", "bad.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn v01_builds_with_kubectl_kustomize() {
    let files = v01_tree();
    let dir = common::tempdir();
    write_tree(dir.path(), &files);
    let out = Command::new(common::tools::require("kubectl"))
        .args(["kustomize"])
        .arg(dir.path())
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(docs.len(), files.len() - 1);
    let mut got: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = parse_tree(&files)
        .into_iter()
        .filter(|(f, _)| f != "kustomization.yaml")
        .map(|(_, d)| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "agentrun-v01");
    }
}

/// Golden files: `LANE_UPDATE_GOLDEN=1 cargo test --test render_tree` rewrites them.
#[test]
fn v01_matches_golden_files() {
    let files = v01_tree();
    let dir = common::repo_root().join("tests/golden/render/v01");
    if std::env::var_os("LANE_UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        write_tree(&dir, &files);
    }
    let golden = read_dir(&dir);
    assert_eq!(
        golden.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>(),
        "file set differs from tests/golden/render/v01 (LANE_UPDATE_GOLDEN=1 to regenerate)"
    );
    for (k, v) in &files {
        assert_eq!(
            &golden[k], v,
            "{k} differs from golden (LANE_UPDATE_GOLDEN=1 to regenerate)"
        );
    }
}

#[test]
fn renders_are_byte_identical() {
    let lane = shipped_lane();
    let cat = v01_catalog();
    let a = render_tree(&lane, &cat).unwrap();
    for _ in 0..5 {
        assert_eq!(render_tree(&lane, &cat).unwrap(), a);
    }
    // Also across processes: a fresh parse of the same inputs.
    let b = render_tree(&shipped_lane(), &catalog(&v01_catalog_json())).unwrap();
    assert_eq!(a.files, b.files);
}

#[test]
fn removing_a_service_removes_its_files() {
    let mut v = shipped_json();
    v["services"][1]["enabled"] = json!(false);
    let lane = lane_from_json(&v).unwrap();
    let tree = render_tree(&lane, &v01_catalog()).unwrap();
    let with: Vec<&String> = tree
        .files
        .keys()
        .filter(|k| k.contains("agentrun-runner"))
        .collect();
    assert!(with.is_empty(), "{with:?}");
    assert!(!tree.files["kustomization.yaml"].contains("agentrun-runner"));
    // The rest is untouched.
    let full = v01_tree();
    for (k, content) in &tree.files {
        if k != "kustomization.yaml" {
            assert_eq!(&full[k], content, "{k}");
        }
    }
}

#[test]
fn missing_digest_fails_naming_the_service() {
    let cat = common::test_catalog(COMMIT, &[("agentrun-mgr", "deployment", 'a')]);
    let err = render_tree(&shipped_lane(), &catalog(&cat)).unwrap_err();
    match &err {
        RenderError::MissingDigest { service } => assert_eq!(service, "agentrun-runner"),
        e => panic!("unexpected {e}"),
    }
    assert!(err.to_string().contains("agentrun-runner"));
    // A disabled service needs no digest.
    let mut v = shipped_json();
    v["services"][1]["enabled"] = json!(false);
    assert!(render_tree(&lane_from_json(&v).unwrap(), &catalog(&cat)).is_ok());
}

#[test]
fn upstream_services_render_with_their_pinned_digest() {
    let mut v = shipped_json();
    v["services"].as_array_mut().unwrap().push(json!({
        "id": "redis", "kind": "deployment",
        "upstream": {"repository": "docker.io/library/redis", "tag": "7.2.4"},
        "ports": [{"name": "redis", "containerPort": 6379}]
    }));
    let lane = lane_from_json(&v).unwrap();
    let mut cat = v01_catalog_json();
    cat["services"]["redis"] = json!({
        "component": {"service": "redis", "kind": "deployment"},
        "imageRepository": "docker.io/library/redis",
        "tag": "7.2.4",
        "digest": format!("sha256:{}", "d".repeat(64)),
        "status": "pinned",
        "sourceCommit": COMMIT,
        "publishedAt": "2026-11-01T00:00:00Z",
        "updatedAt": "2026-11-01T00:00:00Z"
    });
    let tree = render_tree(&lane, &catalog(&cat)).unwrap();
    let docs = parse_tree(&tree.files);
    let d = &docs["deployment-redis.yaml"];
    assert_eq!(
        pod_spec(d)["containers"][0]["image"],
        json!(format!("docker.io/library/redis@sha256:{}", "d".repeat(64)))
    );
    assert!(d["spec"]["template"]["metadata"]["labels"]
        .get("lane.dev/image-commit")
        .is_none());
    assert_eq!(docs["service-redis.yaml"]["spec"]["type"], "ClusterIP");
    let dir = common::tempdir();
    write_tree(dir.path(), &tree.files);
    kubernetes_validate(
        dir.path(),
        &["deployment-redis.yaml", "service-redis.yaml"],
        "1.30.0",
    );
}

#[test]
fn services_are_cluster_ip_only_and_no_host_access() {
    for (file, content) in v01_tree() {
        for bad in [
            "NodePort",
            "LoadBalancer",
            "hostPort",
            "hostNetwork",
            "nodePort",
            "kind: Secret",
            "kind: Namespace",
        ] {
            assert!(!content.contains(bad), "{file} contains {bad}");
        }
        assert!(!content.contains(":latest"));
    }
}

#[test]
fn network_policies_default_deny_and_allow_only_the_intent() {
    let docs = parse_tree(&v01_tree());
    let deny = &docs["networkpolicy-default-deny.yaml"];
    assert_eq!(
        deny["spec"],
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    );
    let ing = &docs["networkpolicy-agentrun-mgr-ingress-1.yaml"];
    assert_eq!(
        ing["spec"]["podSelector"],
        json!({"matchLabels": {"lane.dev/service": "agentrun-mgr"}})
    );
    assert_eq!(
        ing["spec"]["ingress"],
        json!([{"from": [{"podSelector": {"matchLabels": {"lane.dev/service": "agentrun-runner"}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}]}])
    );
    let eg = &docs["networkpolicy-agentrun-runner-egress-2.yaml"];
    assert_eq!(
        eg["spec"]["egress"],
        json!([{"to": [{"podSelector": {"matchLabels": {"lane.dev/service": "agentrun-mgr"}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}]}])
    );
    let dns = &docs["networkpolicy-agentrun-runner-egress-1.yaml"];
    assert_eq!(
        dns["spec"]["egress"][0]["ports"][0],
        json!({"port": 53, "protocol": "UDP"})
    );
}

#[test]
fn an_allowance_without_peers_is_refused_not_widened() {
    let mut v = shipped_json();
    v["networkPolicy"]["ingress"] = json!([{"to": "agentrun-mgr", "ports": ["http"]}]);
    let lane = lane_unchecked(&v);
    let err = render_tree(&lane, &v01_catalog()).unwrap_err();
    assert!(
        err.to_string().contains("$.networkPolicy.ingress[0]"),
        "{err}"
    );
    assert!(err.to_string().contains("empty-allowance"), "{err}");
}

/// A lane large enough to render on several threads: the result equals the one-by-one
/// order, and when two objects fail, the error is the first one in plan order.
#[test]
fn a_large_lane_renders_in_plan_order_and_reports_the_first_failure() {
    let mut intent = shipped_json();
    let mgr = intent["services"][0].clone();
    let mut services = vec![];
    let mut entries = vec![];
    let ids: Vec<String> = (0..40).map(|i| format!("svc-{i:02}")).collect();
    for id in &ids {
        let mut s = mgr.clone();
        s["id"] = json!(id);
        services.push(s);
        entries.push((id.as_str(), "deployment", 'c'));
    }
    intent["services"] = json!(services);
    intent["networkPolicy"] = json!({});
    let lane = lane_unchecked(&intent);
    let cat = catalog(&common::test_catalog(COMMIT, &entries));
    let tree = render_tree(&lane, &cat).unwrap_or_else(|e| panic!("{e}"));
    assert!(tree.objects.len() >= 120, "{}", tree.objects.len());
    assert!(tree.files.contains_key("deployment-svc-39.yaml"));
    assert_eq!(
        render_tree(&lane, &cat).unwrap(),
        tree,
        "deterministic across threads"
    );

    // A template override that breaks the ConfigMaps of svc-31 and svc-07.
    let dir = common::tempdir();
    let broken = format!(
        "{{% if meta.name in [\"svc-31-config\", \"svc-07-config\"] %}}broken: [\n{{% endif %}}{}",
        include_str!("../../templates/runtime/configmap.yaml")
    );
    std::fs::write(dir.path().join("configmap.yaml"), broken).unwrap();
    let templates = lane::render::Templates::with_overrides(dir.path()).unwrap();
    let err = lane::render::render_tree_with(&lane, &cat, &templates).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("configmap-svc-07-config.yaml") && text.contains("yaml-parse"),
        "{text}"
    );
}
