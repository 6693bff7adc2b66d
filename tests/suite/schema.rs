//! The published JSON Schemas stay in sync with the Rust model.
//!
//! A maximal instance of `DeployIntent` and of `Catalog` (every optional field set, every list
//! non-empty) is serialized and walked against the schema: every object's property set must
//! equal the schema's, so a field added to the model without the schema (or the reverse)
//! fails here. The struct literals below list every field, so a new field also fails to
//! compile until it is added. The instances must pass both check-jsonschema and lane.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use lane::model::catalog::{
    CatalogDoc, CatalogEntry, ComponentIdentity, EntryFrom, EntryRestores, EntryRollback,
    EntryStatus, LaneRollback, ReleaseRef,
};
use lane::model::check;
use lane::model::intent::*;
use lane::model::secrets;
use serde_json::{json, Value};

const COMMIT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

fn s(v: &str) -> String {
    v.to_string()
}

fn maximal_intent() -> lane::model::intent::IntentText {
    let built = Service {
        id: s("agentrun-mgr"),
        kind: ComponentKind::Deployment,
        enabled: true,
        build: Some(BuildSource {
            context: s("apps/mgr"),
            dockerfile: s("apps/mgr/Dockerfile"),
            args: BTreeMap::from([(s("RUST_VERSION"), s("1.88"))]),
            target: Some(s("runtime")),
        }),
        upstream: None,
        image_repository: Some(s("agentrun/mgr")),
        replicas: Some(2),
        resources: Resources {
            requests: Some(ResourceList {
                cpu: Some(s("100m")),
                memory: Some(s("256Mi")),
                ephemeral_storage: Some(s("1Gi")),
            }),
            limits: Some(ResourceList {
                cpu: Some(s("1")),
                memory: Some(s("1Gi")),
                ephemeral_storage: Some(s("2Gi")),
            }),
        },
        ports: vec![Port {
            name: s("http"),
            container_port: 8080,
            service_port: Some(80),
            protocol: Protocol::Tcp,
        }],
        health: Some(Health {
            path: s("/health"),
            port: s("http"),
        }),
        command: vec![s("/usr/local/bin/agentrun-mgr")],
        args: vec![s("--listen=:8080")],
        env: vec![
            EnvVar {
                name: s("LOG_LEVEL"),
                value: Some(s("info")),
                secret_key_ref: None,
                config_map_key_ref: None,
            },
            EnvVar {
                name: s("DATABASE_URL"),
                value: None,
                secret_key_ref: Some(KeyRef {
                    name: s("agentrun-v01-postgres"),
                    key: s("DATABASE_URL"),
                    optional: true,
                }),
                config_map_key_ref: None,
            },
            EnvVar {
                name: s("FEATURES"),
                value: None,
                secret_key_ref: None,
                config_map_key_ref: Some(KeyRef {
                    name: s("agentrun-features"),
                    key: s("features"),
                    optional: true,
                }),
            },
        ],
        config: BTreeMap::from([(s("AGENTRUN_DATABASE_NAME"), s("agentrun_v01"))]),
        volumes: vec![
            Volume {
                name: s("codex-auth"),
                mount_path: s("/var/run/codex"),
                secret: Some(SecretProjection {
                    secret_name: s("agentrun-v01-codex"),
                    items: vec![SecretItem {
                        key: s("auth.json"),
                        path: Some(s("auth.json")),
                    }],
                }),
                pvc: None,
                writable_home: None,
            },
            Volume {
                name: s("workspaces"),
                mount_path: s("/var/lib/agentrun"),
                secret: None,
                pvc: Some(PvcMount {
                    claim_name: s("agentrun-v01-workspaces"),
                    read_only: true,
                }),
                writable_home: None,
            },
            Volume {
                name: s("codex-home"),
                mount_path: s("/home/agentrun/.codex"),
                secret: None,
                pvc: None,
                writable_home: Some(WritableHome {
                    copy_from: Some(s("codex-auth")),
                    env: Some(s("CODEX_HOME")),
                    size_limit: Some(s("1Gi")),
                }),
            },
        ],
        service_account: Some(s("agentrun-v01-mgr")),
        job: None,
    };
    let upstream_job = Service {
        id: s("agentrun-runner"),
        kind: ComponentKind::Job,
        enabled: false,
        build: None,
        upstream: Some(UpstreamImage {
            repository: s("docker.io/library/busybox"),
            tag: s("1.36"),
        }),
        image_repository: None,
        replicas: None,
        resources: Resources::default(),
        ports: vec![],
        health: None,
        command: vec![],
        args: vec![],
        env: vec![],
        config: BTreeMap::new(),
        volumes: vec![],
        service_account: None,
        job: Some(JobSettings {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(7200),
            ttl_seconds_after_finished: Some(86400),
        }),
    };
    DeployIntent {
        schema_version: 1,
        lane: LaneSpec {
            version: s("v0.1"),
            project: s("agentrun"),
            cluster: s("g14"),
            source_repo: s("git@github.com:pikasTech/agentrun.git"),
            gitops_repo: Some(s("git@github.com:pikasTech/agentrun-gitops.git")),
            registry: RegistrySpec {
                host: s("127.0.0.1:5000"),
                repository_prefix: s("agentrun"),
                insecure: true,
            },
            proxy: ProxySpec {
                http_proxy: Some(s("http://127.0.0.1:10808")),
                https_proxy: Some(s("http://127.0.0.1:10808")),
                no_proxy: vec![s(".svc.cluster.local")],
            },
            names: NameOverrides {
                source_branch: Some(s("v0.1")),
                gitops_branch: Some(s("v0.1-gitops")),
                catalog_path: Some(s("deploy/artifact-catalog.v01.json")),
                runtime_path: Some(s("deploy/gitops/g14/runtime-v01")),
                namespace: Some(s("agentrun-v01")),
                tekton_namespace: Some(s("agentrun-ci")),
                pipeline: Some(s("agentrun-v01-ci-image-publish")),
                tekton_service_account: Some(s("agentrun-v01-tekton-runner")),
                pipeline_run_prefix: Some(s("agentrun-v01-ci-")),
                argo_namespace: Some(s("argocd")),
                argo_project: Some(s("agentrun-v01")),
                argo_application: Some(s("agentrun-g14-v01")),
            },
        },
        services: vec![built, upstream_job],
        service_accounts: vec![ServiceAccountIntent {
            name: s("agentrun-v01-mgr"),
            rules: vec![RbacRule {
                api_groups: vec![s("batch")],
                resources: vec![s("cronjobs")],
                verbs: vec![s("get")],
                resource_names: vec![s("agentrun-runner")],
            }],
            automount_token: true,
        }],
        persistent_volume_claims: vec![PvcIntent {
            name: s("agentrun-v01-workspaces"),
            size: s("20Gi"),
            access_modes: vec![AccessMode::ReadWriteOnce],
            storage_class_name: Some(s("local-path")),
        }],
        network_policy: NetworkPolicyIntent {
            ingress: vec![IngressAllow {
                to: s("agentrun-mgr"),
                from_services: vec![s("agentrun-runner")],
                from_namespaces: vec![s("kube-system")],
                from_cidrs: vec![s("10.42.0.0/16")],
                ports: vec![s("http")],
            }],
            egress: vec![EgressAllow {
                from: s("agentrun-mgr"),
                dns: true,
                to_services: vec![s("agentrun-runner")],
                to_namespaces: vec![s("kube-system")],
                to_cidrs: vec![s("0.0.0.0/0")],
                ports: vec![5432],
            }],
        },
        ingress: IngressIntent {
            enabled: false,
            note: Some(s("no public entry in v0.1")),
        },
    }
}

fn entry(service: &str, kind: ComponentKind, status: EntryStatus) -> CatalogEntry {
    let built = status != EntryStatus::Pinned;
    CatalogEntry {
        component: ComponentIdentity {
            service: s(service),
            kind,
        },
        image_repository: format!("127.0.0.1:5000/agentrun/{service}")
            .try_into()
            .unwrap(),
        // A reused entry keeps the image, and the tag, of the commit it was built from.
        tag: match status {
            EntryStatus::Published => s(COMMIT),
            EntryStatus::Reused => "b".repeat(40),
            EntryStatus::Pinned | EntryStatus::RolledBack => s("1.36"),
        },
        digest: lane::model::Digest::try_from(format!("sha256:{}", "a".repeat(64))).unwrap(),
        media_type: Some(s("application/vnd.oci.image.manifest.v1+json")),
        platforms: vec![s("linux/amd64")],
        status,
        source_commit: commit(COMMIT),
        reused_from: (status == EntryStatus::Reused).then(|| commit(&"b".repeat(40))),
        fingerprint: built.then(|| format!("sha256:{}", "f".repeat(64))),
        pipeline_run: Some(s("agentrun-v01-ci-3f786850e387")),
        published_at: s("2026-11-01T00:00:00Z"),
        updated_at: s("2026-11-02T00:00:00.5Z"),
        rollback: None,
    }
}

/// A service returned by `lane rollback` to its published entry of an earlier release.
fn rolled_back_entry(service: &str) -> CatalogEntry {
    let mut e = entry(service, ComponentKind::Deployment, EntryStatus::Published);
    e.status = EntryStatus::RolledBack;
    e.rollback = Some(EntryRollback {
        from: EntryFrom {
            digest: lane::model::Digest::try_from(format!("sha256:{}", "c".repeat(64))).unwrap(),
            source_commit: commit(&"d".repeat(40)),
            gitops_commit: commit(&"e".repeat(40)),
        },
        restores: EntryRestores {
            status: EntryStatus::Published,
            source_commit: commit(COMMIT),
            gitops_commit: commit(&"9".repeat(40)),
        },
        requested_by: s("Jane Operator <jane@example.invalid>"),
        at: s("2026-11-02T00:00:00Z"),
        reason: Some(s("the new parser rejects old sessions")),
    });
    e
}

fn commit(s: &str) -> lane::model::Commit {
    lane::model::Commit::try_from(s).unwrap()
}

fn maximal_catalog() -> CatalogDoc {
    CatalogDoc {
        schema_version: 1,
        lane: s("v0.1"),
        source_repo: s("git@github.com:pikasTech/agentrun.git"),
        source_branch: s("v0.1"),
        gitops_branch: s("v0.1-gitops"),
        source_commit: commit(COMMIT),
        updated_at: s("2026-11-02T00:00:00Z"),
        services: BTreeMap::from([
            (
                s("agentrun-mgr"),
                entry(
                    "agentrun-mgr",
                    ComponentKind::Deployment,
                    EntryStatus::Published,
                ),
            ),
            (
                s("agentrun-runner"),
                entry("agentrun-runner", ComponentKind::Job, EntryStatus::Reused),
            ),
            (
                s("busybox"),
                entry("busybox", ComponentKind::Job, EntryStatus::Pinned),
            ),
            (s("agentrun-web"), rolled_back_entry("agentrun-web")),
        ]),
        rollback: Some(Box::new(LaneRollback {
            from: ReleaseRef {
                source_commit: commit(&"d".repeat(40)),
                gitops_commit: commit(&"e".repeat(40)),
            },
            restores: ReleaseRef {
                source_commit: commit(COMMIT),
                gitops_commit: commit(&"9".repeat(40)),
            },
            requested_by: s("Jane Operator <jane@example.invalid>"),
            at: s("2026-11-02T00:00:00Z"),
            reason: Some(s("roll the lane back to the last good release")),
        })),
    }
}

fn load_schema(name: &str) -> Value {
    let p = common::repo_root().join("deploy").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// Follow `$ref` (local `#/...` pointers only) and return (pointer, node).
fn resolve<'a>(root: &'a Value, ptr: String, node: &'a Value) -> (String, &'a Value) {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r.strip_prefix('#').expect("local $ref");
            let next = root
                .pointer(target)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(root, r.to_string(), next)
        }
        None => (ptr, node),
    }
}

/// Property names of an object schema, or None for maps and non-objects.
fn props(node: &Value) -> Option<BTreeSet<String>> {
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
}

type Seen = BTreeMap<String, BTreeSet<String>>;

/// Walk `value` against `node`, checking every object's keys against the schema properties.
fn walk(root: &Value, ptr: String, node: &Value, value: &Value, at: &str, seen: &mut Seen) {
    let (ptr, node) = resolve(root, ptr, node);
    // `nullable(x)` is `anyOf: [x, {type: null}]`: walk the non-null branch.
    if let (Some(alts), false) = (node.get("anyOf").and_then(Value::as_array), value.is_null()) {
        if node.get("properties").is_none() && node.get("type").is_none() {
            let i = alts
                .iter()
                .position(|a| a.get("type") != Some(&json!("null")))
                .unwrap();
            return walk(root, format!("{ptr}/anyOf/{i}"), &alts[i], value, at, seen);
        }
    }
    match value {
        Value::Object(m) => {
            if let Some(names) = props(node) {
                assert_eq!(
                    node.get("additionalProperties"),
                    Some(&Value::Bool(false)),
                    "{ptr}: object schemas must be strict (the model denies unknown fields)"
                );
                let entry = seen.entry(ptr.clone()).or_default();
                for k in m.keys() {
                    assert!(
                        names.contains(k),
                        "model field {at}.{k} is missing from the schema at {ptr}"
                    );
                    entry.insert(k.clone());
                }
                for (k, v) in m {
                    let child = &node["properties"][k];
                    walk(
                        root,
                        format!("{ptr}/properties/{k}"),
                        child,
                        v,
                        &format!("{at}.{k}"),
                        seen,
                    );
                }
            } else {
                let add = node.get("additionalProperties").unwrap_or_else(|| {
                    panic!("{ptr}: {at} is an object but the schema has no properties")
                });
                for (k, v) in m {
                    walk(
                        root,
                        format!("{ptr}/additionalProperties"),
                        add,
                        v,
                        &format!("{at}.{k}"),
                        seen,
                    );
                }
            }
        }
        Value::Array(items) => {
            let it = node
                .get("items")
                .unwrap_or_else(|| panic!("{ptr}: {at} is an array but the schema has no items"));
            for (i, v) in items.iter().enumerate() {
                walk(
                    root,
                    format!("{ptr}/items"),
                    it,
                    v,
                    &format!("{at}[{i}]"),
                    seen,
                );
            }
        }
        _ => {}
    }
}

/// Every object schema reachable through properties/items/additionalProperties/$defs, with
/// its pointer. Conditional parts (if/then/allOf/not) only constrain these and are checked
/// by [`conditional_keys_are_known`].
fn object_nodes(root: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    fn visit(ptr: String, node: &Value, out: &mut BTreeMap<String, BTreeSet<String>>) {
        if let Some(p) = props(node) {
            out.insert(ptr.clone(), p);
            for (k, v) in node["properties"].as_object().unwrap() {
                visit(format!("{ptr}/properties/{k}"), v, out);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(v) = node.get(key).filter(|v| v.is_object()) {
                visit(format!("{ptr}/{key}"), v, out);
            }
        }
        if let Some(alts) = node.get("anyOf").and_then(Value::as_array) {
            for (i, a) in alts.iter().enumerate() {
                visit(format!("{ptr}/anyOf/{i}"), a, out);
            }
        }
    }
    visit("#".into(), root, &mut out);
    for (k, v) in root["$defs"].as_object().unwrap() {
        visit(format!("#/$defs/{k}"), v, &mut out);
    }
    out
}

/// Keys named in if/then/else/allOf parts of an object schema must be its own properties.
fn conditional_keys_are_known(root: &Value) {
    for (ptr, names) in object_nodes(root) {
        let node = root.pointer(ptr.trim_start_matches('#')).unwrap();
        let mut parts: Vec<&Value> = vec![node];
        parts.extend(
            node.get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        for part in parts {
            for key in ["if", "then", "else"] {
                let Some(c) = part.get(key) else { continue };
                let mentioned = props(c).unwrap_or_default().into_iter().chain(
                    c.get("required")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(String::from)),
                );
                for k in mentioned {
                    assert!(
                        names.contains(&k),
                        "{ptr}/{key} names '{k}', not a property"
                    );
                }
            }
        }
    }
}

fn assert_in_sync(schema_file: &str, value: &Value) {
    let root = load_schema(schema_file);
    let mut seen = Seen::new();
    walk(&root, "#".into(), &root, value, "$", &mut seen);
    for (ptr, names) in object_nodes(&root) {
        let got = seen
            .get(&ptr)
            .unwrap_or_else(|| panic!("{schema_file}: the maximal instance never reaches {ptr}"));
        assert_eq!(
            got, &names,
            "{schema_file} {ptr}: schema properties differ from the model's serialized fields"
        );
    }
    conditional_keys_are_known(&root);
}

fn check_jsonschema(schema: &Path, instance: &Path) -> std::process::Output {
    let cjs = common::tools::require("check-jsonschema");
    Command::new(cjs)
        .arg("--schemafile")
        .arg(schema)
        .arg("--output-format")
        .arg("json")
        .arg(instance)
        .output()
        .expect("run check-jsonschema")
}

fn assert_schema_accepts(schema_file: &str, value: &Value) {
    let dir = common::tempdir();
    let f = dir.path().join("instance.json");
    std::fs::write(&f, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    let out = check_jsonschema(&common::repo_root().join("deploy").join(schema_file), &f);
    assert!(
        out.status.success(),
        "{schema_file} rejects the maximal instance:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn deploy_schema_matches_the_intent_model() {
    let intent = maximal_intent();
    let v = serde_json::to_value(&intent).unwrap();
    assert_in_sync("deploy.schema.json", &v);
    // The maximal instance is a valid lane too: lane and schema agree on it.
    let bytes = serde_json::to_vec(&v).unwrap();
    let back = check::parse_intent(&bytes, "maximal.json", None)
        .unwrap_or_else(|e| panic!("lane rejects the maximal instance: {e}"));
    assert_eq!(Ok(back), intent.into_checked());
    assert_schema_accepts("deploy.schema.json", &v);
}

#[test]
fn catalog_schema_matches_the_catalog_model() {
    let cat = maximal_catalog();
    let v = serde_json::to_value(&cat).unwrap();
    assert_in_sync("artifact-catalog.schema.json", &v);
    let bytes = serde_json::to_vec(&v).unwrap();
    let back = check::parse_catalog(&bytes, "catalog.json", None)
        .unwrap_or_else(|e| panic!("lane rejects the maximal catalog: {e}"));
    assert_eq!(*back, cat);
    assert_schema_accepts("artifact-catalog.schema.json", &v);
}

#[test]
fn schemas_are_valid_draft_2020_12() {
    let cjs = common::tools::require("check-jsonschema");
    for f in ["deploy.schema.json", "artifact-catalog.schema.json"] {
        let p = common::repo_root().join("deploy").join(f);
        let root = load_schema(f);
        assert_eq!(
            root["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let out = Command::new(&cjs)
            .arg("--check-metaschema")
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f} is not a valid schema: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The schema writes the secret rules as regexes; they must decide like the Rust scanner.
#[test]
fn schema_secret_patterns_agree_with_the_scanner() {
    let root = load_schema("deploy.schema.json");
    let name_re =
        regex_lite::Regex::new(root["$defs"]["secretName"]["pattern"].as_str().unwrap()).unwrap();
    for name in [
        "DB_PASSWORD",
        "db-passwd",
        "apiKey",
        "API_KEY",
        "OPENAI_API_KEY",
        "GITHUB_TOKEN",
        "client_secret",
        "DATABASE_URL",
        "database.url",
        "PG_DSN",
        "KUBECONFIG",
        "ssh_key",
        "AWS_ACCESS_KEY_ID",
        "authKey",
        "privateKey",
        "credentials",
        "LOG_LEVEL",
        "AGENTRUN_LANE",
        "HOME",
        "CODEX_HOME",
        "TOKENIZER",
        "PORT",
        "D_S_N",
        "p.a.s.s.w.o.r.d",
    ] {
        assert_eq!(
            name_re.is_match(name),
            secrets::is_secret_key_name(name),
            "secretName pattern and is_secret_key_name disagree on {name}"
        );
    }
    let not_secret: Vec<regex_lite::Regex> = root["$defs"]["noSecret"]["not"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| regex_lite::Regex::new(p["pattern"].as_str().unwrap()).unwrap())
        .collect();
    for v in [
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
        "postgres://app:s3cr%40t@db:5432/agentrun_v01",
        "postgres://db:5432/agentrun_v01",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "xghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "glpat-abcdefghijklmnop1234",
        "xoxb-0000000000-abcdef",
        "sk-abcdefghijklmnopqrstuvwxyz",
        "task-abcdefghijklmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk",
        "AKIAABCDEFGHIJKLMNOP",
        "apiVersion: v1\nkind: Config\nclusters: []",
        "current-context: g14",
        "http://127.0.0.1:10808",
        "git@github.com:pikasTech/agentrun.git",
        "info",
        // issue 14: shapes the scanner used to miss, and near misses
        "redis://:hunter2pw@cache:6379/0",
        "https://bot:pa/ss@git.example.com/o/r.git",
        "host=db port=5432 password=hunter2 dbname=app",
        "Server=db;Uid=app;Pwd=hunter2;",
        "password=$(DB_PASSWORD)",
        "{\"kind\": \"Config\", \"clusters\": []}",
        "kind: ConfigMap\nclusters: 1",
        "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K",
        "eC0tLS0tQkVHSU4gUlNBIFBSSVZBVEUgS0VZLS0tLS0K",
        "eHgtLS0tLUJFR0lOIEVDIFBSSVZBVEUgS0VZLS0tLS0K",
    ] {
        let schema_says = not_secret.iter().any(|r| r.is_match(v));
        assert_eq!(
            schema_says,
            secrets::classify(v).is_some(),
            "noSecret patterns and secrets::classify disagree on {v:?}"
        );
    }
}

/// lane and the published schema agree on git remotes (src/git/remote.rs): the accepted ones
/// pass both, the option-shaped and transport-helper ones fail both.
#[test]
fn schema_and_lane_agree_on_git_remotes() {
    let intent = maximal_intent();
    let base = serde_json::to_value(&intent).unwrap();
    let dir = common::tempdir();
    let schema = common::repo_root().join("deploy/deploy.schema.json");
    let cases = [
        ("https://github.com/o/r.git", true),
        ("git@github.com:o/r.git", true),
        ("ssh://git@h:22/o/r.git", true),
        ("git://127.0.0.1:9418/r.git", true),
        ("file:///srv/git/r.git", true),
        ("/srv/git/r.git", true),
        ("--upload-pack=touch${IFS}/tmp/x;false", false),
        ("ext::sh%-c%touch%/tmp/x", false),
        ("fd::3", false),
        ("ssh://-oProxyCommand=x/r", false),
        ("git@-oProxyCommand=x:r", false),
        ("-oProxyCommand=x:r", false),
    ];
    for (i, (remote, ok)) in cases.iter().enumerate() {
        for field in ["sourceRepo", "gitopsRepo"] {
            let mut v = base.clone();
            v["lane"][field] = Value::String(remote.to_string());
            let f = dir.path().join(format!("{i}-{field}.json"));
            let bytes = serde_json::to_vec_pretty(&v).unwrap();
            std::fs::write(&f, &bytes).unwrap();
            let schema_ok = check_jsonschema(&schema, &f).status.success();
            let lane_ok = check::parse_intent(&bytes, "deploy.json", None).is_ok();
            assert_eq!(schema_ok, *ok, "schema on {field} = {remote}");
            assert_eq!(lane_ok, *ok, "lane on {field} = {remote}");
        }
    }
}

/// The limits a schema node states, following `$ref`, `allOf` and the non-null branch of
/// `anyOf` (optional name overrides); the tightest wins.
#[derive(Debug, Default, Clone, Copy)]
struct Limits {
    max_length: Option<u64>,
    max_items: Option<u64>,
    max_properties: Option<u64>,
    maximum: Option<u64>,
}

fn limits_of(root: &Value, node: &Value, out: &mut Limits) {
    let tighter = |slot: &mut Option<u64>, v: Option<u64>| {
        if let Some(v) = v {
            *slot = Some(slot.map_or(v, |s| s.min(v)));
        }
    };
    tighter(
        &mut out.max_length,
        node.get("maxLength").and_then(Value::as_u64),
    );
    tighter(
        &mut out.max_items,
        node.get("maxItems").and_then(Value::as_u64),
    );
    tighter(
        &mut out.max_properties,
        node.get("maxProperties").and_then(Value::as_u64),
    );
    tighter(
        &mut out.maximum,
        node.get("maximum").and_then(Value::as_u64),
    );
    if let Some(r) = node.get("$ref").and_then(Value::as_str) {
        limits_of(root, root.pointer(&r[1..]).unwrap(), out);
    }
    for part in node
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        limits_of(root, part, out);
    }
    if let Some(first) = node.get("anyOf").and_then(|a| a.get(0)) {
        limits_of(root, first, out);
    }
}

/// The schema node that describes `key` of an object described by `node` (or its items
/// when `key` is None), through `$ref`, `allOf` and the non-null `anyOf` branch.
fn child_schema<'a>(root: &'a Value, node: &'a Value, key: Option<&str>) -> Option<&'a Value> {
    let here = match key {
        Some(k) => node
            .get("properties")
            .and_then(|p| p.get(k))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object())),
        None => node.get("items"),
    };
    here.or_else(|| {
        let r = node.get("$ref").and_then(Value::as_str);
        r.and_then(|r| child_schema(root, root.pointer(&r[1..]).unwrap(), key))
            .or_else(|| {
                node.get("allOf")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find_map(|p| child_schema(root, p, key))
            })
            .or_else(|| {
                node.get("anyOf")
                    .and_then(|a| a.get(0))
                    .and_then(|p| child_schema(root, p, key))
            })
    })
}

/// Every (JSON pointer, JSONPath, limits) of `value` where the schema states a limit.
fn limited_places(
    root: &Value,
    node: &Value,
    value: &Value,
    ptr: &str,
    at: &str,
    out: &mut Vec<(String, String, Limits)>,
) {
    let mut l = Limits::default();
    limits_of(root, node, &mut l);
    if l.max_length.is_some()
        || l.max_items.is_some()
        || l.max_properties.is_some()
        || l.maximum.is_some()
    {
        out.push((ptr.to_string(), at.to_string(), l));
    }
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                if let Some(child) = child_schema(root, node, Some(k)) {
                    let p = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                    limited_places(root, child, v, &p, &check::key_path(at, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = child_schema(root, node, None) {
                for (i, v) in items.iter().enumerate() {
                    limited_places(
                        root,
                        child,
                        v,
                        &format!("{ptr}/{i}"),
                        &format!("{at}[{i}]"),
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}

/// `v` made exactly `n` characters long, staying in its alphabet: its last character is
/// repeated (or it is cut).
fn string_of_len(v: &str, n: usize) -> String {
    let last = v
        .chars()
        .last()
        .filter(|c| c.is_ascii_alphanumeric())
        .unwrap_or('a');
    let mut s: String = v.chars().take(n).collect();
    while s.chars().count() < n {
        s.push(last);
    }
    s
}

/// Fields whose value names, or is named by, another object of the same file: at the
/// schema's limit the reference breaks, which lane refuses (as `unknown-…`) and JSON Schema
/// cannot see. `imageRepository` is joined with `lane.registry.host` into the full repository,
/// whose 255-character limit (rule `image-repository`) spans two fields the same way.
const REFERENCES: &[&str] = &[
    "].imageRepository",
    "].id",
    ".name",
    ".component.service",
    ".serviceAccount",
    ".claimName",
    ".copyFrom",
    ".health.port",
    ".to",
    ".from",
    "fromServices[",
    "toServices[",
    "].ports[",
];

/// Every limit deploy.schema.json states (maxLength, maxItems, maxProperties, maximum), at
/// every place of the maximal instance it applies, is lane's limit too: just past it both
/// refuse, and at it lane accepts a string the schema accepts (a reference field aside,
/// which names nothing at that length). Before issue 14, lane took a 900 KB env value the
/// schema capped at 4096 characters.
fn compare_limits(schema_file: &str, base: Value, lane_accepts: impl Fn(&[u8]) -> bool) {
    let root = load_schema(schema_file);
    let mut places = Vec::new();
    limited_places(&root, &root, &base, "", "$", &mut places);
    assert!(places.len() > 10, "only {} limited places", places.len());
    let dir = common::tempdir();
    // (file, JSONPath, at the limit?, string?)
    let mut instances: Vec<(std::path::PathBuf, String, bool, bool)> = Vec::new();
    for (i, (ptr, at, l)) in places.iter().enumerate() {
        let cur = base.pointer(ptr).unwrap().clone();
        let mut variants: Vec<(Value, bool)> = Vec::new();
        match &cur {
            Value::String(v) => {
                if let Some(n) = l.max_length {
                    let n = n as usize;
                    variants.push((json!(string_of_len(v, n)), true));
                    variants.push((json!(string_of_len(v, n + 1)), false));
                }
            }
            Value::Array(a) => {
                if let (Some(n), Some(last)) = (l.max_items, a.last()) {
                    variants.push((Value::Array(vec![last.clone(); n as usize + 1]), false));
                }
            }
            Value::Object(m) => {
                if let Some(n) = l.max_properties {
                    let mut o = m.clone();
                    for j in 0..=n as usize {
                        o.insert(format!("LIMIT_KEY_{j}"), json!("x"));
                    }
                    variants.push((Value::Object(o), false));
                }
            }
            Value::Number(_) => {
                if let Some(n) = l.maximum {
                    let over = n
                        .checked_add(1)
                        .map(Value::from)
                        .unwrap_or_else(|| json!(n as f64 * 2.0));
                    variants.push((over, false));
                }
            }
            _ => {}
        }
        for (j, (v, at_limit)) in variants.into_iter().enumerate() {
            let mut doc = base.clone();
            *doc.pointer_mut(ptr).unwrap() = v;
            let f = dir.path().join(format!("{i}-{j}.json"));
            std::fs::write(&f, serde_json::to_vec(&doc).unwrap()).unwrap();
            instances.push((f, at.clone(), at_limit, cur.is_string()));
        }
    }
    let out = Command::new(common::tools::require("check-jsonschema"))
        .arg("--schemafile")
        .arg(common::repo_root().join("deploy").join(schema_file))
        .args(["--output-format", "json"])
        .args(instances.iter().map(|i| &i.0))
        .output()
        .expect("run check-jsonschema");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused: BTreeSet<String> = report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(report["parse_errors"].as_array().into_iter().flatten())
        .map(|e| e["filename"].as_str().unwrap().to_string())
        .collect();
    let mut disagree = Vec::new();
    for (f, at, at_limit, _) in &instances {
        let schema_ok = !refused.contains(&f.display().to_string());
        let lane_ok = lane_accepts(&std::fs::read(f).unwrap());
        let reference = REFERENCES.iter().any(|r| at.contains(r));
        let agree = if *at_limit {
            schema_ok == lane_ok || (reference && schema_ok && !lane_ok)
        } else {
            assert!(
                !schema_ok,
                "{at}: the schema accepts a value past its own limit"
            );
            !lane_ok
        };
        if !agree {
            disagree.push(format!(
                "{at} ({}): schema {}, lane {}",
                if *at_limit {
                    "at the limit"
                } else {
                    "past the limit"
                },
                if schema_ok { "accepts" } else { "refuses" },
                if lane_ok { "accepts" } else { "refuses" }
            ));
        }
    }
    assert!(
        disagree.is_empty(),
        "{schema_file} and lane disagree on {} limit(s):\n{}",
        disagree.len(),
        disagree.join("\n")
    );
}

#[test]
fn schema_and_lane_agree_on_every_limit() {
    let base = serde_json::to_value(maximal_intent()).unwrap();
    compare_limits("deploy.schema.json", base, |b| {
        check::parse_intent(b, "limit.json", None).is_ok()
    });
}

#[test]
fn catalog_schema_and_lane_agree_on_every_limit() {
    let base = serde_json::to_value(maximal_catalog()).unwrap();
    compare_limits("artifact-catalog.schema.json", base, |b| {
        check::parse_catalog(b, "limit.json", None).is_ok()
    });
}
