//! A fake Kubernetes API for verify tests: a test CA and server/client certificates made with
//! the `openssl` CLI, and `tests/fixtures/fake_kube_api.py` serving Kubernetes, Argo CD and
//! Tekton objects shaped like the real APIs' (status blocks as the controllers write them),
//! behind bearer-token / client-certificate authentication.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::{json, Map, Value};

use super::tools;

pub const TOKEN: &str = "test-token-7f3a9c2e51b84d06a1c9e2f4b7d8c3a5";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(tools::require("openssl"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate, in `dir`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=lane-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(dir, &ca);
        for (name, cn, ext) in [
            (
                "server",
                "127.0.0.1",
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
            ),
            (
                "client",
                "lane-verify",
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
            ),
        ] {
            let key = format!("{name}-key.pem");
            let csr = format!("{name}.csr");
            let subj = format!("/CN={cn}");
            let mut req = vec!["req"];
            req.extend(ec);
            req.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(dir, &req);
            let extfile = format!("{name}.ext");
            std::fs::write(dir.join(&extfile), ext).unwrap();
            let crt = format!("{name}.pem");
            openssl(
                dir,
                &[
                    "x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                    "-CAcreateserial", "-out", &crt, "-days", "2", "-extfile", &extfile,
                ],
            );
        }
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The running fake API server; killed on drop.
pub struct FakeApi {
    child: Child,
    pub url: String,
    pub routes: PathBuf,
    pub log: PathBuf,
    pub token_file: PathBuf,
    pub pki: Pki,
}

impl FakeApi {
    pub fn start(dir: &Path, routes: &Value) -> FakeApi {
        let pki = Pki::generate(&dir.join("pki"));
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let routes_file = dir.join("routes.json");
        std::fs::write(&routes_file, serde_json::to_vec_pretty(routes).unwrap()).unwrap();
        let log = dir.join("requests.log");
        std::fs::write(&log, "").unwrap();
        let (child, port) = tools::start_fixture(
            "fake_kube_api.py",
            &[
                "--cert".as_ref(),
                pki.path("server.pem").as_os_str(),
                "--key".as_ref(),
                pki.path("server-key.pem").as_os_str(),
                "--client-ca".as_ref(),
                pki.path("ca.pem").as_os_str(),
                "--token-file".as_ref(),
                token_file.as_os_str(),
                "--routes".as_ref(),
                routes_file.as_os_str(),
                "--log".as_ref(),
                log.as_os_str(),
            ],
        );
        FakeApi {
            child,
            url: format!("https://127.0.0.1:{port}"),
            routes: routes_file,
            log,
            token_file,
            pki,
        }
    }

    /// Replace the served objects (read by the server on every request).
    pub fn set_routes(&self, routes: &Value) {
        let tmp = self.routes.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(routes).unwrap()).unwrap();
        std::fs::rename(tmp, &self.routes).unwrap();
    }

    pub fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// `--api-server URL --token-file F --ca-file CA`.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--api-server".into(),
            self.url.clone(),
            "--token-file".into(),
            self.token_file.display().to_string(),
            "--ca-file".into(),
            self.pki.path("ca.pem").display().to_string(),
        ]
    }

    /// Write a kubeconfig whose current context reaches this server; `user` is the YAML of
    /// the user entry.
    pub fn kubeconfig(&self, path: &Path, user: &str) {
        let ca = std::fs::read(self.pki.path("ca.pem")).unwrap();
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: lane\nclusters:\n- name: other\n  cluster:\n    server: https://127.0.0.1:1\n- name: fake\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: lane\n  context:\n    cluster: fake\n    user: verifier\n    namespace: agentrun-v01\nusers:\n- name: verifier\n  user:\n{}\n",
            self.url,
            base64(&ca),
            user.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
        );
        std::fs::write(path, text).unwrap();
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

pub const TS: &str = "2026-11-01T00:05:00Z";

fn ok(body: Value) -> Value {
    json!({"status": 200, "body": body})
}

/// The served cluster, built from the runtime tree and the catalog, healthy by default.
/// Tests mutate `routes` to make one thing wrong.
pub struct Cluster {
    pub routes: Map<String, Value>,
    pub namespace: String,
}

pub struct ClusterInput<'a> {
    /// (file, parsed object) of the runtime tree.
    pub objects: &'a [Value],
    /// service id → (pinned image, digest).
    pub images: &'a [(String, String, String)],
    pub gitops_head: &'a str,
    pub commit: &'a str,
}

fn object_path(v: &Value, ns: &str) -> String {
    let av = v["apiVersion"].as_str().unwrap();
    let kind = v["kind"].as_str().unwrap();
    let name = v["metadata"]["name"].as_str().unwrap();
    let base = if av.contains('/') {
        format!("/apis/{av}")
    } else {
        format!("/api/{av}")
    };
    let k = kind.to_ascii_lowercase();
    let plural = if k.ends_with("policy") {
        format!("{}ies", &k[..k.len() - 1])
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    };
    if kind == "Namespace" {
        format!("{base}/namespaces/{name}")
    } else {
        format!("{base}/namespaces/{ns}/{plural}/{name}")
    }
}

fn live_meta(v: &mut Value, ns: &str, generation: i64) {
    let is_ns = v["kind"] == "Namespace";
    let m = v["metadata"].as_object_mut().unwrap();
    if !m.contains_key("namespace") && !is_ns {
        m.insert("namespace".into(), json!(ns));
    }
    m.insert("uid".into(), json!("6b1f2c3d-0a4e-4f7b-9c8d-1e2f3a4b5c6d"));
    m.insert("resourceVersion".into(), json!("48213"));
    m.insert("generation".into(), json!(generation));
    m.insert("creationTimestamp".into(), json!("2026-11-01T00:00:00Z"));
    m.insert("managedFields".into(), json!([]));
}

/// A Running pod of a Deployment's template, running `image_id`.
pub fn pod(ns: &str, deploy: &Value, name: &str, image_id: &str) -> Value {
    let tmpl = &deploy["spec"]["template"];
    let mut labels = tmpl["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!("7d9f8b6c5d");
    let mut spec = tmpl["spec"].clone();
    spec["nodeName"] = json!("g14");
    spec["restartPolicy"] = json!("Always");
    spec["schedulerName"] = json!("default-scheduler");
    let statuses: Vec<Value> = spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!({
                "name": c["name"],
                "state": {"running": {"startedAt": TS}},
                "lastState": {},
                "ready": true,
                "restartCount": 0,
                "image": c["image"],
                "imageID": image_id,
                "containerID": "containerd://4f1c2b3a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081",
                "started": true
            })
        })
        .collect();
    json!({
        "metadata": {
            "name": name,
            "generateName": format!("{}-7d9f8b6c5d-", deploy["metadata"]["name"].as_str().unwrap()),
            "namespace": ns,
            "uid": "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
            "resourceVersion": "48250",
            "creationTimestamp": "2026-11-01T00:01:00Z",
            "labels": labels,
            "annotations": tmpl["metadata"]["annotations"],
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{}-7d9f8b6c5d", deploy["metadata"]["name"].as_str().unwrap()),
                "uid": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-01T00:01:02Z"},
                {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-01T00:01:02Z"},
                {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-01T00:01:10Z"},
                {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-01T00:01:10Z"},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-01T00:01:00Z"}
            ],
            "hostIP": "192.168.1.14",
            "hostIPs": [{"ip": "192.168.1.14"}],
            "podIP": "10.42.0.15",
            "podIPs": [{"ip": "10.42.0.15"}],
            "startTime": "2026-11-01T00:01:00Z",
            "containerStatuses": statuses,
            "qosClass": "Burstable"
        }
    })
}

impl Cluster {
    pub fn healthy(ns: &str, input: &ClusterInput) -> Cluster {
        let mut routes = Map::new();
        routes.insert(
            format!("/api/v1/namespaces/{ns}"),
            ok(json!({
                "kind": "Namespace", "apiVersion": "v1",
                "metadata": {"name": ns, "uid": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "resourceVersion": "100",
                    "creationTimestamp": "2026-11-01T00:00:00Z",
                    "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            })),
        );
        let mut pods = Vec::new();
        for o in input.objects {
            let mut live = o.clone();
            live_meta(&mut live, ns, 3);
            match o["kind"].as_str().unwrap() {
                "Deployment" => {
                    let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1);
                    live["spec"]["replicas"] = json!(replicas);
                    live["spec"]["revisionHistoryLimit"] = json!(10);
                    live["spec"]["progressDeadlineSeconds"] = json!(600);
                    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        json!("3");
                    live["status"] = json!({
                        "observedGeneration": 3,
                        "replicas": replicas,
                        "updatedReplicas": replicas,
                        "readyReplicas": replicas,
                        "availableReplicas": replicas,
                        "conditions": [
                            {"type": "Available", "status": "True", "lastUpdateTime": TS, "lastTransitionTime": TS,
                             "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                            {"type": "Progressing", "status": "True", "lastUpdateTime": TS, "lastTransitionTime": TS,
                             "reason": "NewReplicaSetAvailable",
                             "message": format!("ReplicaSet \"{}-7d9f8b6c5d\" has successfully progressed.", o["metadata"]["name"].as_str().unwrap())}
                        ]
                    });
                    let svc = o["spec"]["template"]["metadata"]["labels"]["lane.dev/service"]
                        .as_str()
                        .unwrap_or("");
                    let image_id = input
                        .images
                        .iter()
                        .find(|(s, _, _)| s == svc)
                        .map(|(_, img, _)| img.clone())
                        .unwrap_or_default();
                    for i in 0..replicas {
                        pods.push(pod(
                            ns,
                            o,
                            &format!(
                                "{}-7d9f8b6c5d-x2x9{i}",
                                o["metadata"]["name"].as_str().unwrap()
                            ),
                            &image_id,
                        ));
                    }
                }
                "CronJob" => {
                    live["status"] = json!({});
                }
                "Service" => {
                    live["spec"]["clusterIP"] = json!("10.43.12.34");
                    live["spec"]["clusterIPs"] = json!(["10.43.12.34"]);
                    live["spec"]["type"] = json!("ClusterIP");
                    live["status"] = json!({"loadBalancer": {}});
                    let name = o["metadata"]["name"].as_str().unwrap();
                    for p in o["spec"]["ports"].as_array().into_iter().flatten() {
                        if let Some(pn) = p["name"].as_str() {
                            routes.insert(
                                format!(
                                    "/api/v1/namespaces/{ns}/services/{name}:{pn}/proxy/health"
                                ),
                                json!({"status": 200, "body": {"status": "ok", "service": name}}),
                            );
                        }
                    }
                }
                _ => {}
            }
            routes.insert(object_path(o, ns), ok(live));
        }
        routes.insert(
            format!("/api/v1/namespaces/{ns}/pods"),
            ok(json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "48300"}, "items": pods})),
        );
        Cluster {
            routes,
            namespace: ns.to_string(),
        }
    }

    pub fn route(&mut self, path: &str) -> &mut Value {
        self.routes
            .get_mut(path)
            .unwrap_or_else(|| panic!("no route {path}"))
    }

    pub fn body(&mut self, path: &str) -> &mut Value {
        &mut self.route(path)["body"]
    }

    pub fn pods(&mut self) -> &mut Vec<Value> {
        let ns = self.namespace.clone();
        self.body(&format!("/api/v1/namespaces/{ns}/pods"))["items"]
            .as_array_mut()
            .unwrap()
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.routes.clone())
    }

    /// The lane's Argo CD Application and AppProject, synced to `revision` and Healthy.
    pub fn add_argo(&mut self, revision: &str) {
        let source = json!({
            "repoURL": "git@github.com:pikasTech/agentrun.git",
            "targetRevision": "v0.1-gitops",
            "path": "deploy/gitops/g14/runtime-v01"
        });
        let dest = json!({"server": "https://kubernetes.default.svc", "namespace": "agentrun-v01"});
        self.routes.insert(
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/agentrun-g14-v01".into(),
            ok(json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "agentrun-g14-v01", "namespace": "argocd", "uid": "9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b",
                    "resourceVersion": "77120", "generation": 41, "creationTimestamp": "2026-10-01T00:00:00Z",
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {
                    "project": "agentrun-v01",
                    "source": source,
                    "destination": dest,
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=false"]}
                },
                "status": {
                    "resources": [
                        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "agentrun-v01",
                         "name": "agentrun-mgr", "status": "Synced", "health": {"status": "Healthy"}}
                    ],
                    "sync": {
                        "status": "Synced",
                        "comparedTo": {"source": source, "destination": dest},
                        "revision": revision
                    },
                    "health": {"status": "Healthy", "lastTransitionTime": TS},
                    "history": [{"revision": revision, "deployedAt": TS, "id": 12, "source": source,
                                 "deployStartedAt": "2026-11-01T00:04:50Z", "initiatedBy": {"automated": true}}],
                    "reconciledAt": TS,
                    "operationState": {
                        "operation": {"sync": {"revision": revision, "prune": true, "syncOptions": ["CreateNamespace=true"]},
                                      "initiatedBy": {"automated": true}, "retry": {"limit": 5}},
                        "phase": "Succeeded",
                        "message": "successfully synced (all tasks run)",
                        "syncResult": {"resources": [], "revision": revision, "source": source},
                        "startedAt": "2026-11-01T00:04:50Z",
                        "finishedAt": TS
                    },
                    "sourceType": "Kustomize",
                    "summary": {},
                    "controllerNamespace": "argocd"
                }
            })),
        );
        self.routes.insert(
            "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/agentrun-v01".into(),
            ok(json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": "agentrun-v01", "namespace": "argocd", "resourceVersion": "5120", "generation": 2,
                             "creationTimestamp": "2026-10-01T00:00:00Z"},
                "spec": {
                    "description": "agentrun v0.1 lane",
                    "sourceRepos": ["git@github.com:pikasTech/agentrun.git"],
                    "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "agentrun-v01"}],
                    "clusterResourceWhitelist": [],
                    "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}]
                },
                "status": {}
            })),
        );
    }

    pub fn app(&mut self) -> &mut Value {
        self.body("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/agentrun-g14-v01")
    }

    /// A succeeded PipelineRun for `commit` whose publish TaskRun reports `images` (pinned
    /// references) in the `IMAGES` result; the PipelineRun itself has no results, so the
    /// TaskRun is followed through childReferences.
    pub fn add_tekton(&mut self, commit: &str, images: &[String]) {
        let name = format!("agentrun-v01-ci-{}-x7k2p", &commit[..12]);
        let older = format!("agentrun-v01-ci-{}-a1b2c", &commit[..12]);
        let publish_tr = format!("{name}-publish");
        let pr = |name: &str, created: &str, status: &str, reason: &str, message: &str| {
            json!({
                "apiVersion": "tekton.dev/v1",
                "kind": "PipelineRun",
                "metadata": {"name": name, "namespace": "agentrun-ci", "uid": "3c2b1a09-8f7e-4d6c-5b4a-392817161514",
                    "resourceVersion": "99001", "generation": 1, "creationTimestamp": created,
                    "labels": {"tekton.dev/pipeline": "agentrun-v01-ci-image-publish",
                               "triggers.tekton.dev/eventlistener": "agentrun-v01"}},
                "spec": {
                    "pipelineRef": {"name": "agentrun-v01-ci-image-publish"},
                    "params": [{"name": "revision", "value": commit}],
                    "taskRunTemplate": {"serviceAccountName": "agentrun-v01-tekton-runner",
                        "podTemplate": {"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}},
                    "timeouts": {"pipeline": "1h0m0s"}
                },
                "status": {
                    "conditions": [{"type": "Succeeded", "status": status, "reason": reason, "message": message,
                                    "lastTransitionTime": "2026-11-01T00:04:00Z"}],
                    "startTime": created,
                    "completionTime": "2026-11-01T00:04:00Z",
                    "childReferences": [
                        {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": format!("{name}-plan"), "pipelineTaskName": "plan"},
                        {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": format!("{name}-publish"), "pipelineTaskName": "publish"}
                    ],
                    "pipelineSpec": {"tasks": [{"name": "plan", "taskRef": {"kind": "Task", "name": "lane-plan"}},
                                               {"name": "publish", "taskRef": {"kind": "Task", "name": "lane-publish"}}]},
                    "provenance": {"featureFlags": {"enableAPIFields": "stable"}}
                }
            })
        };
        let items = vec![
            pr(
                &older,
                "2026-11-01T00:00:00Z",
                "False",
                "Failed",
                "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 3",
            ),
            pr(
                &name,
                "2026-11-01T00:01:00Z",
                "True",
                "Succeeded",
                "Tasks Completed: 6 (Failed: 0, Cancelled 0), Skipped: 0",
            ),
        ];
        self.routes.insert(
            "/apis/tekton.dev/v1/namespaces/agentrun-ci/pipelineruns".into(),
            ok(
                json!({"apiVersion": "tekton.dev/v1", "kind": "PipelineRunList",
                      "metadata": {"continue": "", "resourceVersion": "99100"}, "items": items}),
            ),
        );
        self.routes.insert(
            format!("/apis/tekton.dev/v1/namespaces/agentrun-ci/pipelineruns/{name}"),
            ok(items[1].clone()),
        );
        for (tr, results) in [
            (
                format!("{name}-plan"),
                json!([{"name": "affected", "type": "string", "value": "[\"agentrun-mgr\",\"agentrun-runner\"]"}]),
            ),
            (
                publish_tr.clone(),
                json!([
                    {"name": "IMAGES", "type": "string", "value": images.join(",")},
                    {"name": "IMAGE_URL", "type": "string", "value": images.first().map(|i| i.split('@').next().unwrap().to_string()).unwrap_or_default()},
                    {"name": "IMAGE_DIGEST", "type": "string", "value": images.first().map(|i| i.split('@').nth(1).unwrap().to_string()).unwrap_or_default()}
                ]),
            ),
        ] {
            self.routes.insert(
                format!("/apis/tekton.dev/v1/namespaces/agentrun-ci/taskruns/{tr}"),
                ok(json!({
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "metadata": {"name": tr, "namespace": "agentrun-ci",
                        "labels": {"tekton.dev/pipelineRun": name, "tekton.dev/pipeline": "agentrun-v01-ci-image-publish"},
                        "ownerReferences": [{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": name,
                                             "uid": "3c2b1a09-8f7e-4d6c-5b4a-392817161514", "controller": true, "blockOwnerDeletion": true}]},
                    "spec": {"serviceAccountName": "agentrun-v01-tekton-runner", "timeout": "1h0m0s"},
                    "status": {
                        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                                        "message": "All Steps have completed executing", "lastTransitionTime": "2026-11-01T00:03:00Z"}],
                        "podName": format!("{tr}-pod"),
                        "startTime": "2026-11-01T00:01:05Z",
                        "completionTime": "2026-11-01T00:03:00Z",
                        "steps": [{"name": "run", "container": "step-run", "imageID": "127.0.0.1:5000/lane/lane@sha256:0000000000000000000000000000000000000000000000000000000000000001",
                                   "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-01T00:01:10Z", "finishedAt": "2026-11-01T00:03:00Z"}}],
                        "results": results,
                        "artifacts": {}
                    }
                })),
            );
        }
    }

    /// Authorize every request as RBAC would for `rbac` (see [`rbac_of`]).
    pub fn set_rbac(&mut self, rbac: Value) {
        self.routes.insert("$rbac".into(), rbac);
    }

    pub fn pipeline_run_list(&mut self) -> &mut Vec<Value> {
        self.body("/apis/tekton.dev/v1/namespaces/agentrun-ci/pipelineruns")["items"]
            .as_array_mut()
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// A lane's repositories for verify: source branch v0.1 with deploy.json, and the GitOps branch
// v0.1-gitops (catalog + runtime tree) pushed to a bare `origin` and fetched back.

use std::collections::BTreeMap;

use super::gitrepo::{bare_repo, git, TestRepo};

pub const MGR_DIGEST_CHAR: char = 'a';
pub const RUNNER_DIGEST_CHAR: char = 'b';

/// The shipped deploy.json's services with test digests.
pub fn services() -> Vec<(&'static str, &'static str, char)> {
    vec![
        ("agentrun-mgr", "deployment", MGR_DIGEST_CHAR),
        ("agentrun-runner", "job", RUNNER_DIGEST_CHAR),
    ]
}

pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

pub fn image(service: &str, c: char) -> String {
    format!("127.0.0.1:5000/agentrun/{service}@{}", digest(c))
}

/// The runtime tree for `catalog`: `lane::render::render_tree` of the shipped deploy.json.
pub fn rendered_tree(deploy: &str, catalog: &Value) -> BTreeMap<String, String> {
    let lane = lane::model::Lane::parse(deploy.as_bytes(), "deploy.json").expect("deploy.json");
    let bytes = serde_json::to_vec(catalog).expect("catalog");
    let cat = lane::model::check::parse_catalog(&bytes, "catalog.json", Some(&lane.names))
        .expect("catalog");
    lane::render::render_tree(&lane, &cat)
        .expect("render_tree of the shipped deploy.json")
        .files
}

pub struct LaneRepos {
    pub source: TestRepo,
    pub gitops: TestRepo,
    pub remote: (tempfile::TempDir, PathBuf),
    pub commit: String,
    pub gitops_head: String,
    pub catalog: Value,
    pub tree: BTreeMap<String, String>,
    pub gitops_branch: String,
    pub runtime_path: String,
}

pub const CATALOG_PATH: &str = "deploy/artifact-catalog.v01.json";
pub const RUNTIME_PATH: &str = "deploy/gitops/g14/runtime-v01";

impl LaneRepos {
    /// Source commit with the shipped deploy.json and docs; GitOps branch holding its catalog
    /// and the rendered tree; both pushed to origin and fetched.
    pub fn new() -> LaneRepos {
        let deploy = std::fs::read_to_string(super::shipped_deploy()).unwrap();
        LaneRepos::with_deploy(&deploy)
    }

    /// The same for another lane's deploy.json: its branches, catalog and runtime paths.
    pub fn with_deploy(deploy: &str) -> LaneRepos {
        let lane = lane::model::Lane::parse(deploy.as_bytes(), "deploy.json").expect("deploy.json");
        let n = &lane.names;
        let (source_branch, gitops_branch) =
            (n.source_branch.to_string(), n.gitops_branch.to_string());
        let (catalog_path, runtime_path) = (n.catalog_path.to_string(), n.runtime_path.to_string());
        let source = TestRepo::init(&source_branch);
        source.write("deploy/deploy.json", deploy);
        source.write(
            "AGENTS.md",
            "# Agents\n\nThe v0.1 lane deploys to agentrun-v01 only.\n\n## 历史背景\n\nagentrun_dev and agentrun_prod were the old runtime.\n",
        );
        source.write(
            "docs/reference/spec.md",
            "# Spec\n\n- v0.1 不复用 `agentrun_dev` 或 `agentrun_prod` 作为当前运行面。\n",
        );
        let commit = source.commit("source");
        let mut catalog = super::test_catalog(
            &commit,
            &services()
                .iter()
                .map(|(s, k, c)| (*s, *k, *c))
                .collect::<Vec<_>>(),
        );
        catalog["lane"] = json!(n.version);
        catalog["sourceBranch"] = json!(source_branch);
        catalog["gitopsBranch"] = json!(gitops_branch);
        let tree = rendered_tree(deploy, &catalog);
        let remote = bare_repo();
        let url = remote.1.display().to_string();
        source.git(&["remote", "add", "origin", &url]);
        source.git(&["push", "-q", "origin", &source_branch]);

        let gitops = TestRepo::init(&gitops_branch);
        gitops.write(
            &catalog_path,
            &format!("{}\n", serde_json::to_string_pretty(&catalog).unwrap()),
        );
        for (f, text) in &tree {
            gitops.write(&format!("{runtime_path}/{f}"), text);
        }
        let gitops_head = gitops.commit("promote");
        gitops.git(&["remote", "add", "origin", &url]);
        gitops.git(&["push", "-q", "origin", &gitops_branch]);
        source.git(&["fetch", "-q", "origin"]);
        LaneRepos {
            source,
            gitops,
            remote,
            commit,
            gitops_head,
            catalog,
            tree,
            gitops_branch,
            runtime_path,
        }
    }

    /// Commit a change on the GitOps branch (a test's hand edit), push and fetch it; returns
    /// the new head.
    pub fn gitops_commit(&mut self, edit: impl FnOnce(&Path)) -> String {
        edit(self.gitops.path());
        let head = self.gitops.commit("edit");
        self.gitops
            .git(&["push", "-q", "-f", "origin", &self.gitops_branch]);
        self.source.git(&["fetch", "-q", "-f", "origin"]);
        self.gitops_head = head.clone();
        head
    }

    /// Objects of the runtime tree as JSON (for the fake cluster).
    pub fn objects(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (f, text) in &self.tree {
            if f == "kustomization.yaml" {
                continue;
            }
            for v in serde_saphyr::from_multiple::<Value>(text).unwrap() {
                if v.get("kind").is_some() {
                    out.push(v);
                }
            }
        }
        out
    }

    /// The healthy cluster for this release: live objects, pods on the catalog's digests,
    /// Argo synced to the GitOps head, a succeeded PipelineRun.
    pub fn healthy_cluster(&self) -> Cluster {
        let objects = self.objects();
        let images: Vec<(String, String, String)> = services()
            .iter()
            .map(|(s, _, c)| (s.to_string(), image(s, *c), digest(*c)))
            .collect();
        let mut c = Cluster::healthy(
            "agentrun-v01",
            &ClusterInput {
                objects: &objects,
                images: &images,
                gitops_head: &self.gitops_head,
                commit: &self.commit,
            },
        );
        c.add_argo(&self.gitops_head);
        c.add_tekton(
            &self.commit,
            &images.iter().map(|(_, i, _)| i.clone()).collect::<Vec<_>>(),
        );
        c
    }

    pub fn repo_arg(&self) -> String {
        self.source.path().display().to_string()
    }
}

/// `git` in a directory (re-export for tests).
pub fn run_git(dir: &Path, args: &[&str]) -> String {
    git(dir, args)
}

/// The verifying identity of the shipped RBAC: the PipelineRun's ServiceAccount.
pub const VERIFY_SA_NAMESPACE: &str = "agentrun-ci";
pub const VERIFY_SA: &str = "agentrun-v01-tekton-runner";

/// The RBAC rules `rbac_yaml` (Roles, ClusterRoles and their bindings) grants the
/// ServiceAccount `namespace/name`, in the fake API's `$rbac` form: each rule with the
/// namespace it applies in (`null`: every namespace, from a ClusterRoleBinding).
pub fn rbac_of(rbac_yaml: &str, namespace: &str, name: &str) -> Value {
    let docs: Vec<Value> = serde_saphyr::from_multiple::<Value>(rbac_yaml)
        .unwrap()
        .into_iter()
        .filter(|d| d.get("kind").is_some())
        .collect();
    let role = |kind: &str, role_name: &str, ns: Option<&str>| {
        docs.iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == role_name
                    && (kind == "ClusterRole" || d["metadata"]["namespace"].as_str() == ns)
            })
            .cloned()
    };
    let mut rules = Vec::new();
    for b in &docs {
        let kind = b["kind"].as_str().unwrap_or("");
        if kind != "RoleBinding" && kind != "ClusterRoleBinding" {
            continue;
        }
        let bound = b["subjects"].as_array().into_iter().flatten().any(|s| {
            s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
        });
        if !bound {
            continue;
        }
        let bns = b["metadata"]["namespace"].as_str();
        let rk = b["roleRef"]["kind"].as_str().unwrap();
        let Some(r) = role(rk, b["roleRef"]["name"].as_str().unwrap(), bns) else {
            continue;
        };
        for rule in r["rules"].as_array().into_iter().flatten() {
            let mut rule = rule.clone();
            rule["namespace"] = match kind {
                "RoleBinding" => json!(bns),
                _ => Value::Null,
            };
            rules.push(rule);
        }
    }
    json!({"user": format!("system:serviceaccount:{namespace}:{name}"), "rules": rules})
}

/// What the shipped `pipelines/rbac.yaml` grants the verifying identity.
pub fn shipped_verify_rbac() -> Value {
    let text = std::fs::read_to_string(super::repo_root().join("pipelines/rbac.yaml")).unwrap();
    rbac_of(&text, VERIFY_SA_NAMESPACE, VERIFY_SA)
}
