//! Hostile values injected through deploy.json never change a manifest's structure, and no
//! secret value ever reaches the rendered tree.

use crate::common;

use common::render::*;
use lane::render::render_tree;
use serde_json::{json, Value};

/// Values that break naive YAML templating (each would change structure if spliced raw).
const HOSTILE: &[&str] = &[
    "line1\nline2",
    "key: value",
    "a # comment",
    "{{ 7*7 }}",
    "{% if true %}x{% endif %}",
    "\"double\" 'single'",
    "ünïcødé ☃ 漢字 \u{202e}rtl",
    "&anchor",
    "*alias",
    "---",
    "--- !!python/object:os.system",
    "!!python/object/apply:os.system ['id']",
    "0755",
    "yes",
    "no",
    "~",
    "null",
    "1e3",
    "[a, b]",
    "{a: b}",
    "- item",
    "|\n  block",
    "> folded",
    "@at `tick`",
    "%TAG ! tag:x",
    "\t tab and trailing space ",
    " ",
    "...",
    "? complex",
    "\\ backslash \\n",
];

const SLOT: &str = "SLOT-VALUE";
/// A health path slot (paths cannot contain whitespace).
const PATH_SLOT: &str = "/SLOT-PATH";

/// deploy.json with `v` in every free-text field render consumes.
fn intent_with(v: &str, path: &str) -> Value {
    let mut d = shipped_json();
    let mgr = &mut d["services"][0];
    mgr["config"]["AGENTRUN_DATABASE_NAME"] = json!(v);
    mgr["env"][3]["value"] = json!(v);
    mgr["command"] = json!([v, "--flag"]);
    mgr["args"] = json!(["--x", v]);
    mgr["health"]["path"] = json!(path);
    let runner = &mut d["services"][1];
    runner["env"][0]["value"] = json!(v);
    runner["args"] = json!([v]);
    d
}

/// Replace `from` by `to` in every string of a parsed tree (keys included).
fn replace_strings(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::String(s) if s == from => json!(to),
        Value::Array(a) => Value::Array(a.iter().map(|x| replace_strings(x, from, to)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    (
                        if k == from { to.to_string() } else { k.clone() },
                        replace_strings(x, from, to),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The config hash annotation legitimately depends on the value: blank it for comparison.
fn drop_config_hash(mut v: Value) -> Value {
    if let Some(a) = v.pointer_mut("/spec/template/metadata/annotations") {
        a.as_object_mut()
            .unwrap()
            .remove(lane::render::CONFIG_HASH_ANNOTATION);
    }
    v
}

#[test]
fn hostile_values_never_change_structure() {
    assert!(HOSTILE.len() >= 20);
    let cat = v01_catalog();
    let base_lane =
        lane_from_json(&intent_with(SLOT, PATH_SLOT)).expect("baseline intent is valid");
    let base = parse_tree(&render_tree(&base_lane, &cat).unwrap().files);
    for h in HOSTILE {
        // Health paths must be absolute and whitespace-free (deploy.json rule): inject the
        // hostile text after the slash when that holds, else keep the slot.
        let path = format!("/{h}");
        let path_ok = !h.chars().any(|c| c.is_whitespace() || c.is_control());
        let path = if path_ok { path } else { PATH_SLOT.to_string() };
        let lane = match lane_from_json(&intent_with(h, &path)) {
            Ok(l) => l,
            // Some values are refused by deploy.json checks; render must still hold.
            Err(_) => lane_unchecked(&intent_with(h, &path)),
        };
        let tree = render_tree(&lane, &cat).unwrap_or_else(|e| panic!("{h:?}: {e}"));
        let docs = parse_tree(&tree.files);
        assert_eq!(
            docs.keys().collect::<Vec<_>>(),
            base.keys().collect::<Vec<_>>(),
            "{h:?}"
        );
        for (file, doc) in &docs {
            let back = replace_strings(&replace_strings(doc, h, SLOT), &path, PATH_SLOT);
            assert_eq!(
                drop_config_hash(back),
                drop_config_hash(base[file].clone()),
                "{h:?} changed the structure of {file}"
            );
        }
        // The value arrives exactly, where it was put.
        let cm = &docs["configmap-agentrun-mgr-config.yaml"];
        assert_eq!(cm["data"]["AGENTRUN_DATABASE_NAME"], json!(h));
        let c = &docs["deployment-agentrun-mgr.yaml"]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"][0], json!(h));
        assert_eq!(c["args"][1], json!(h));
        assert_eq!(c["env"][3]["value"], json!(h));
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], json!(path));
    }
}

#[test]
fn the_fast_read_back_takes_every_rendered_file_and_agrees_with_the_full_parser() {
    let mut seen = 0;
    for h in [
        "plain",
        "line1\nline2",
        "ünïcødé ☃ 漢字",
        "{a: b}",
        "\\ backslash \\n",
    ] {
        let lane = lane_unchecked(&intent_with(h, PATH_SLOT));
        let tree = render_tree(&lane, &v01_catalog()).unwrap();
        for (file, text) in &tree.files {
            let fast = lane::yaml::fast(text)
                .unwrap_or_else(|| panic!("{h:?}: the fast path declined {file}:\n{text}"));
            let full: Value = serde_saphyr::from_str(text).unwrap();
            assert_eq!(fast, full, "{h:?}: {file}");
            seen += 1;
        }
    }
    assert!(seen > 50, "{seen}");
}

#[test]
fn hostile_names_are_refused_not_rendered() {
    // deploy.json checks reject these; render refuses them on its own too.
    for bad in ["Bad Name", "x\n---\nkind: Secret", "a:b", "../etc"] {
        let mut d = shipped_json();
        d["serviceAccounts"][1]["name"] = json!(bad);
        d["services"][1]["serviceAccount"] = json!(bad);
        assert!(
            lane_from_json(&d).is_err(),
            "{bad:?} passed deploy.json checks"
        );
        let err = render_tree(&lane_unchecked(&d), &v01_catalog()).unwrap_err();
        assert!(
            err.to_string().contains("dns1123-subdomain"),
            "{bad:?}: {err}"
        );
    }
}

/// Values that exist only in the cluster's Secrets (never in deploy.json or the catalog).
const TEST_SECRETS: &[&str] = &[
    "postgres://agentrun:s3cr3t-pa55@db.internal:5432/agentrun_v01",
    "s3cr3t-pa55",
    "{\"OPENAI_API_KEY\":\"sk-test-abcdefghijklmnopqrstuvwx\"}",
    "sk-test-abcdefghijklmnopqrstuvwx",
    // issue 14: shapes the scanner used to miss
    "redis://:s3cr3t-pa55@cache:6379/0",
    "https://bot:s3cr3t/pa55@git.example.com/o/r.git",
    "host=db port=5432 password=s3cr3t-pa55 dbname=app",
    "{\"kind\": \"Config\", \"clusters\": [], \"users\": [{\"user\": {\"password\": \"s3cr3t-pa55\"}}]}",
    "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KczNjcjN0LXBhNTUK",
];

#[test]
fn no_secret_value_appears_in_the_tree() {
    let tree = render_tree(&shipped_lane(), &v01_catalog()).unwrap();
    for (file, content) in &tree.files {
        for s in TEST_SECRETS {
            assert!(!content.contains(s), "{file} holds a secret value");
        }
        for doc in parse_tree(&BTreeMapOne::one(file, content)).values() {
            assert_no_credentials(doc, file);
        }
    }
}

struct BTreeMapOne;
impl BTreeMapOne {
    fn one(k: &str, v: &str) -> std::collections::BTreeMap<String, String> {
        [(k.to_string(), v.to_string())].into_iter().collect()
    }
}

fn assert_no_credentials(v: &Value, file: &str) {
    match v {
        Value::String(s) => assert!(
            lane::model::secrets::classify(s).is_none(),
            "{file}: credential-looking value"
        ),
        Value::Array(a) => a.iter().for_each(|x| assert_no_credentials(x, file)),
        Value::Object(m) => m.values().for_each(|x| assert_no_credentials(x, file)),
        _ => {}
    }
}

#[test]
fn a_credential_smuggled_past_the_checks_is_refused_without_echoing_it() {
    for s in TEST_SECRETS
        .iter()
        .filter(|s| lane::model::secrets::classify(s).is_some())
    {
        let d = intent_with(s, PATH_SLOT);
        assert!(
            lane_from_json(&d).is_err(),
            "deploy.json checks let a credential through"
        );
        let err = render_tree(&lane_unchecked(&d), &v01_catalog()).unwrap_err();
        let msg = format!("{err} {err:?}");
        assert!(msg.contains("secret-value"), "{msg}");
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("sk-test"),
            "error echoes the secret: {msg}"
        );
    }
}

#[test]
fn cli_output_never_holds_secret_values() {
    // Secrets present in the environment and beside deploy.json must not leak into the
    // report, progress or written files.
    let dir = common::tempdir();
    let cat = dir.path().join("catalog.json");
    std::fs::write(&cat, serde_json::to_string(&v01_catalog_json()).unwrap()).unwrap();
    std::fs::write(dir.path().join("dsn.txt"), TEST_SECRETS[0]).unwrap();
    let out = dir.path().join("runtime");
    let deploy = common::shipped_deploy();
    let run = common::lane_env(
        dir.path(),
        &[
            "render",
            "--deploy",
            deploy.to_str().unwrap(),
            "--catalog",
            cat.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            ("DATABASE_URL", TEST_SECRETS[0]),
            ("CODEX_AUTH", TEST_SECRETS[2]),
        ],
    );
    run.assert_code(0);
    let files = read_dir(&out);
    assert!(!files.is_empty());
    for s in TEST_SECRETS {
        assert!(!run.stdout.contains(s) && !run.stderr.contains(s));
        for c in files.values() {
            assert!(!c.contains(s));
        }
    }
}

/// `kubectl kustomize DIR` (what Argo CD runs on the tree): its documents, read by a YAML 1.1
/// reader (PyYAML, beside kubernetes-validate) as Argo CD's and kubectl's readers read them.
/// A YAML 1.2 reader is the wrong judge here: kustomize writes LS/PS raw inside quoted
/// scalars, which only YAML 1.1 takes as line breaks.
fn kustomize(files: &std::collections::BTreeMap<String, String>) -> Vec<Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = common::tempdir();
    write_tree(dir.path(), files);
    let out = Command::new(common::tools::require("kubectl"))
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut py = Command::new(common::tools::require("python3"))
        .args([
            "-c",
            // PyYAML alone resolves a plain `=` to YAML 1.1's `value` type; Go's readers
            // (kustomize, Argo CD) read the string "=".
            "import json, sys, yaml\n\
             L = yaml.SafeLoader\n\
             L.add_constructor('tag:yaml.org,2002:value', L.construct_yaml_str)\n\
             json.dump(list(yaml.load_all(sys.stdin, Loader=L)), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3 with PyYAML");
    py.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let read = py.wait_with_output().unwrap();
    assert!(
        read.status.success(),
        "PyYAML could not read kustomize's output"
    );
    serde_json::from_slice(&read.stdout).unwrap()
}

fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in kustomize's output"))
}

/// Code points a YAML 1.1 reader (kustomize's) takes as line breaks, and others JSON writes
/// raw: written raw they cut a document (`\u{2028}---\u{2028}kind: Secret`). Render escapes
/// them, and the value comes out of kustomize exactly as deploy.json has it. NEL cannot:
/// kustomize writes it as a space whatever the input, so validation refuses it.
#[test]
fn yaml_line_breaks_round_trip_through_kustomize() {
    let values = [
        "a\u{2028}---\u{2028}kind: Secret",
        "p\u{2029}q",
        "both\u{2028}\u{2029}\r\nend\u{2028}",
        " \u{2028} ",
        "bom\u{feff}inside",
        "nbsp\u{a0}and tab\t",
    ];
    for v in values {
        let d = intent_with(v, PATH_SLOT);
        let lane = lane_from_json(&d).unwrap_or_else(|e| panic!("{v:?}: validate refused: {e}"));
        let tree = render_tree(&lane, &v01_catalog()).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        let docs = kustomize(&tree.files);
        assert!(
            docs.iter().all(|d| d["kind"] != "Secret"),
            "{v:?} smuggled a Secret"
        );
        let cm = object(&docs, "ConfigMap", "agentrun-mgr-config");
        assert_eq!(cm["data"]["AGENTRUN_DATABASE_NAME"], json!(v), "{v:?}");
        let c = &object(&docs, "Deployment", "agentrun-mgr")["spec"]["template"]["spec"]
            ["containers"][0];
        assert_eq!(c["command"][0], json!(v), "{v:?}");
        assert_eq!(c["env"][3]["value"], json!(v), "{v:?}");
    }
}

/// What validate refuses, render refuses too, and the reverse: control characters render
/// could not write are refused by the shared validation with the field's path.
#[test]
fn control_characters_are_refused_by_validation_that_render_shares() {
    for v in [
        "nul\0",
        "del\u{7f}",
        "csi\u{9b}31m",
        "esc\u{1b}[2J",
        "nel\u{85}folds",
        "non\u{fffe}character",
        "non\u{ffff}character",
    ] {
        let d = intent_with(v, PATH_SLOT);
        let err = lane_from_json(&d).expect_err(v);
        let f = err.findings();
        assert!(
            f.iter()
                .any(|x| x.rule == "control-character" && x.path.starts_with("$.services[")),
            "{v:?}: {f:?}"
        );
    }
}

/// Text pieces that stress YAML and kustomize: line breaks of every YAML version, quotes,
/// indicators, plain scalars with other meanings, non-ASCII and a few characters validation
/// refuses (so that refusal is exercised too).
fn piece() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        4 => "[a-zA-Z0-9 ._/=-]{0,12}",
        2 => "\\PC{0,6}",
        3 => prop::sample::select(vec![
            "\n", "\r\n", "\r", "\t", "\u{2028}", "\u{2029}", "\u{feff}", "\u{a0}", "\u{85}",
            "---", "...", "key: v", " # c", "'", "\"", "\\", "{{ x }}", "{%", "&a", "*a", "!!str",
            "%TAG", "@", "`", "yes", "0755", "1e3", "~", "null", " ", "é", "漢字", "😀", "\u{7f}",
            "\u{1b}[0m", "- ", ": ", "? ", "|", ">", "[", "]", "{", "}", ",", "\u{200b}", "\u{fffd}", "\u{fffe}",
        ])
        .prop_map(str::to_string),
    ]
}

fn text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop::collection::vec(piece(), 0..6).prop_map(|p| p.concat())
}

/// Every string of deploy.json that reaches the runtime tree, as (JSON pointer, value): all
/// of `services` (but how an image is built or pinned, and the kind, which becomes a
/// Kubernetes kind), `serviceAccounts`, `persistentVolumeClaims` and `networkPolicy`. The
/// `lane` block only names things (namespace, labels) through derived names.
fn runtime_strings(d: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, at: String, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => out.push((at, s.clone())),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, format!("{at}/{i}"), out)),
            Value::Object(m) => m
                .iter()
                .filter(|(k, _)| {
                    !["build", "upstream", "imageRepository", "kind"].contains(&k.as_str())
                })
                .for_each(|(k, x)| walk(x, format!("{at}/{k}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for top in [
        "services",
        "serviceAccounts",
        "persistentVolumeClaims",
        "networkPolicy",
    ] {
        walk(&d[top], format!("/{top}"), &mut out);
    }
    out
}

fn string_leaves(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out)),
        Value::Object(m) => m.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 16,
        max_global_rejects: 4096,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Any deploy.json `lane validate` accepts renders; the tree passes `kubectl kustomize`
    /// and `kubernetes-validate --strict`; and every string of deploy.json that reaches the
    /// tree ([`runtime_strings`]: free text and names alike) comes out of kustomize unchanged,
    /// read as Argo CD's YAML 1.1 reader reads it.
    #[test]
    fn whatever_validate_accepts_renders_and_survives_kustomize(
        config in text(), env in text(), cmd in text(), arg in text(), runner_env in text(),
        path in "(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,8}){1,3}",
        env_name in "[A-Za-z_.-][A-Za-z0-9_.-]{0,20}",
        config_key in "[A-Za-z_][A-Za-z0-9_]{0,20}",
        mount in "(/[^/:\\x00-\\x1f]{1,10}){1,3}",
    ) {
        let mut d = shipped_json();
        let mgr = &mut d["services"][0];
        mgr["config"]["AGENTRUN_DATABASE_NAME"] = json!(config);
        mgr["env"][3]["value"] = json!(env);
        mgr["command"] = json!([cmd, "--flag"]);
        mgr["args"] = json!(["--x", arg]);
        mgr["health"]["path"] = json!(path);
        mgr["env"][3]["name"] = json!(env_name);
        mgr["config"][config_key] = json!(cmd);
        mgr["volumes"][0]["mountPath"] = json!(mount);
        d["services"][1]["env"][0]["value"] = json!(runner_env);
        // Only what validate accepts is judged; the rest is validation's business.
        let Ok(lane) = lane_from_json(&d) else {
            return Err(proptest::test_runner::TestCaseError::reject("refused by validate"));
        };
        let tree = render_tree(&lane, &v01_catalog())
            .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("validate accepted, render refused: {e}")))?;
        let dir = common::tempdir();
        write_tree(dir.path(), &tree.files);
        let objects: Vec<&String> = tree.files.keys().filter(|f| *f != "kustomization.yaml").collect();
        let kv = std::process::Command::new(common::tools::require("kubernetes-validate"))
            .current_dir(dir.path())
            .args(["--strict", "-k", "1.33.0"])
            .args(&objects)
            .output()
            .unwrap();
        proptest::prop_assert!(
            kv.status.success(),
            "kubernetes-validate --strict: {}{}",
            String::from_utf8_lossy(&kv.stdout),
            String::from_utf8_lossy(&kv.stderr)
        );
        let docs = kustomize(&tree.files);
        let mut seen = std::collections::BTreeSet::new();
        docs.iter().for_each(|d| string_leaves(d, &mut seen));
        for (at, v) in runtime_strings(&d) {
            proptest::prop_assert!(seen.contains(&v), "{at}: {v:?} does not come out of kustomize unchanged");
        }
    }
}

/// Every code point validate accepts comes out of kustomize as rendered: the whole BMP and a
/// sample of every other plane, 4000 characters per config value, through lane's real render
/// (and its escaping). Found U+FFFE/U+FFFF, which kustomize refuses outright.
#[test]
fn every_code_point_validate_accepts_round_trips_through_kustomize() {
    let accepted =
        |c: char| lane::model::rules::forbidden_char(c.encode_utf8(&mut [0; 4])).is_none();
    let bmp = (0u32..0x10000).filter_map(char::from_u32);
    let astral = (0x10000u32..0x110000).step_by(7).filter_map(char::from_u32);
    let all: Vec<char> = bmp.chain(astral).filter(|c| accepted(*c)).collect();
    let values: Vec<String> = all.chunks(4000).map(|c| c.iter().collect()).collect();
    for batch in values.chunks(24) {
        let mut d = shipped_json();
        let config = d["services"][0]["config"].as_object_mut().unwrap();
        config.clear();
        for (i, v) in batch.iter().enumerate() {
            config.insert(format!("K{i}"), json!(v));
        }
        let lane = lane_from_json(&d).unwrap_or_else(|e| panic!("validate refused: {e}"));
        let tree = render_tree(&lane, &v01_catalog()).unwrap();
        let docs = kustomize(&tree.files);
        let cm = object(&docs, "ConfigMap", "agentrun-mgr-config");
        for (i, v) in batch.iter().enumerate() {
            let got = cm["data"][format!("K{i}")].as_str().unwrap();
            if got != v {
                let at = got.chars().zip(v.chars()).position(|(a, b)| a != b);
                panic!(
                    "K{i}: changed at char {at:?} (U+{:04X})",
                    at.map_or(0, |p| v.chars().nth(p).unwrap() as u32)
                );
            }
        }
    }
}
