//! The real single-node cluster of `scripts/cluster.sh` (docs/cluster.md): node, pods from the
//! cluster registry, containment (no route off the machine, unknown registries refused on
//! loopback), cluster DNS without `forward`, dynamic volumes, Argo CD syncing a git-daemon
//! repository. Runs only when `LANE_CLUSTER_KUBECONFIG` is set (`eval "$(scripts/cluster.sh
//! env)"`); otherwise each test prints that it skipped and passes.
//!
//! Self-contained (no `mod common`): std, serde_json and tempfile only.

use serde_json::Value;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Env {
    kubeconfig: String,
    kubectl: PathBuf,
    registry: String,
    node_ip: Ipv4Addr,
    pod_cidr: (Ipv4Addr, u8),
    service_cidr: (Ipv4Addr, u8),
    busybox: String,
    argocd_ns: String,
    logs: Option<PathBuf>,
}

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is unset (eval \"$(scripts/cluster.sh env)\")"))
}

fn cidr(s: &str) -> (Ipv4Addr, u8) {
    let (ip, len) = s
        .split_once('/')
        .unwrap_or_else(|| panic!("not a CIDR: {s}"));
    (ip.parse().unwrap(), len.parse().unwrap())
}

/// The cluster's environment, or `None` (and a line saying so) when no cluster is configured.
fn cluster(test: &str) -> Option<Env> {
    let Ok(kubeconfig) = std::env::var("LANE_CLUSTER_KUBECONFIG") else {
        eprintln!("cluster::{test}: skipped (LANE_CLUSTER_KUBECONFIG unset; run scripts/cluster.sh up and eval \"$(scripts/cluster.sh env)\")");
        return None;
    };
    let kubectl = std::env::var("LANE_CLUSTER_BIN")
        .map(|b| Path::new(&b).join("kubectl"))
        .unwrap_or_else(|_| PathBuf::from("kubectl"));
    Some(Env {
        kubeconfig,
        kubectl,
        registry: var("LANE_CLUSTER_REGISTRY"),
        node_ip: var("LANE_CLUSTER_NODE_IP").parse().unwrap(),
        pod_cidr: cidr(&var("LANE_CLUSTER_POD_CIDR")),
        service_cidr: cidr(&var("LANE_CLUSTER_SERVICE_CIDR")),
        busybox: var("LANE_CLUSTER_BUSYBOX_IMAGE"),
        argocd_ns: var("LANE_CLUSTER_ARGOCD_NAMESPACE"),
        logs: std::env::var("LANE_CLUSTER_LOGS").ok().map(PathBuf::from),
    })
}

impl Env {
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.kubectl.display()));
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// kubectl ARGS, which must succeed; its stdout.
    fn k(&self, args: &[&str]) -> String {
        let out = self.kubectl(args, None);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.k(&a)).unwrap()
    }

    fn apply(&self, yaml: &str) {
        let out = self.kubectl(&["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A namespace of this test, deleted (without waiting) when the guard drops.
    fn namespace(&self, name: &str) -> Namespace<'_> {
        // A name of this run's own: a namespace deleted moments ago (a previous or concurrent
        // run) may still be terminating, and CoreDNS caches its Services' old addresses.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let ns = format!(
            "lane-cluster-test-{name}-{:x}-{nanos:x}",
            std::process::id()
        );
        let _ = self.kubectl(
            &["delete", "namespace", &ns, "--wait=true", "--timeout=60s"],
            None,
        );
        self.k(&["create", "namespace", &ns]);
        // The namespace's default ServiceAccount comes from the controller-manager.
        wait_until(Duration::from_secs(30), "default ServiceAccount", || {
            self.kubectl(&["-n", &ns, "get", "serviceaccount", "default"], None)
                .status
                .success()
        });
        Namespace {
            env: self,
            name: ns,
        }
    }

    fn wait_ready(&self, ns: &str, pod: &str, secs: u64) {
        let out = self.kubectl(
            &[
                "-n",
                ns,
                "wait",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                &format!("--timeout={secs}s"),
            ],
            None,
        );
        if !out.status.success() {
            let describe = self.kubectl(&["-n", ns, "describe", "pod", pod], None);
            panic!(
                "pod {ns}/{pod} not Ready in {secs}s: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&describe.stdout)
            );
        }
    }
}

struct Namespace<'a> {
    env: &'a Env,
    name: String,
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        let _ = self
            .env
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn in_cidr(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Routes of `/proc/net/route` (destination, prefix length).
fn routes(proc_net_route: &str) -> Vec<(Ipv4Addr, u8)> {
    proc_net_route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            // Little-endian hex as the kernel prints it.
            let dst = u32::from_str_radix(f[1], 16).ok()?.swap_bytes();
            let mask = u32::from_str_radix(f[7], 16).ok()?.swap_bytes();
            Some((Ipv4Addr::from(dst), mask.count_ones() as u8))
        })
        .collect()
}

fn busybox_pod(env: &Env, name: &str, script: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{ app: {name} }}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: {image}
      command: ["sh", "-c", {script}]
      readinessProbe:
        httpGet: {{ path: /index.html, port: 8080 }}
        periodSeconds: 1
{extra_spec}"#,
        image = env.busybox,
        script = serde_json::to_string(script).unwrap(),
    )
}

const HTTPD: &str = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www";

#[test]
fn node_is_ready_and_reports_the_pinned_version() {
    let Some(env) = cluster("node_is_ready_and_reports_the_pinned_version") else {
        return;
    };
    let nodes = env.json(&["get", "nodes"]);
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one node");
    let node = &items[0];
    let ready = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .expect("Ready condition");
    assert_eq!(ready["status"], "True", "{ready}");
    let internal: Vec<&str> = node["status"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "InternalIP")
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        internal,
        [env.node_ip.to_string()],
        "the node address is the dummy one"
    );
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.37.2");
    // Built with the version ldflags: knative-based controllers check this.
    let version: Value = serde_json::from_str(&env.k(&["version", "-o", "json"])).unwrap();
    assert_eq!(
        version["serverVersion"]["gitVersion"], "v1.37.2",
        "{version}"
    );
}

#[test]
fn pod_from_the_cluster_registry_is_ready_contained_and_resolves_cluster_names() {
    let Some(env) =
        cluster("pod_from_the_cluster_registry_is_ready_contained_and_resolves_cluster_names")
    else {
        return;
    };
    let ns = env.namespace("pod");
    let pod = busybox_pod(&env, "web", HTTPD, "").replace(
        "metadata:\n",
        &format!("metadata:\n  namespace: {}\n", ns.name),
    );
    env.apply(&format!(
        "{pod}\n---\napiVersion: v1\nkind: Service\nmetadata: {{ name: web, namespace: {ns} }}\nspec:\n  selector: {{ app: web }}\n  ports: [{{ port: 80, targetPort: 8080 }}]\n",
        ns = ns.name
    ));
    env.wait_ready(&ns.name, "web", 120);
    let pod = env.json(&["-n", &ns.name, "get", "pod", "web"]);
    let image_id = pod["status"]["containerStatuses"][0]["imageID"]
        .as_str()
        .unwrap();
    assert!(
        image_id.starts_with(&format!("{}/", env.registry)) && image_id.contains("@sha256:"),
        "image from the cluster registry by digest: {image_id}"
    );
    let pod_ip: Ipv4Addr = pod["status"]["podIP"].as_str().unwrap().parse().unwrap();
    assert!(
        in_cidr(pod_ip, env.pod_cidr),
        "pod IP {pod_ip} in the pod range"
    );

    // Containment: the pod's routing table holds only the pod range, the service range and
    // the node address: no default route, nothing else. (Inspected, not probed.)
    let table = env.k(&[
        "-n",
        &ns.name,
        "exec",
        "web",
        "--",
        "cat",
        "/proc/net/route",
    ]);
    let routes = routes(&table);
    assert!(!routes.is_empty(), "routes: {table}");
    for &(dst, len) in &routes {
        assert!(len > 0, "a default route in the pod:\n{table}");
        let allowed = (dst, len) == (env.node_ip, 32)
            || (in_cidr(dst, env.pod_cidr) && len >= env.pod_cidr.1)
            || (in_cidr(dst, env.service_cidr) && len >= env.service_cidr.1);
        assert!(
            allowed,
            "route {dst}/{len} leads off the cluster's ranges:\n{table}"
        );
    }
    assert!(
        routes.contains(&env.service_cidr),
        "a route to the service range:\n{table}"
    );
    assert!(
        routes.contains(&(env.node_ip, 32)),
        "a route to the node address:\n{table}"
    );

    // Cluster DNS: CoreDNS answers the cluster domain; its Corefile forwards nowhere.
    let corefile = env.k(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "coredns",
        "-o",
        "jsonpath={.data.Corefile}",
    ]);
    assert!(corefile.contains("kubernetes"), "{corefile}");
    assert!(
        !corefile.contains("forward"),
        "the Corefile must not forward:\n{corefile}"
    );
    let api = env.k(&[
        "-n",
        "default",
        "get",
        "service",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let lookup = env.k(&[
        "-n",
        &ns.name,
        "exec",
        "web",
        "--",
        "nslookup",
        "kubernetes.default.svc.cluster.local",
    ]);
    assert!(
        lookup.contains(api.trim()),
        "kubernetes.default resolves to {api}:\n{lookup}"
    );
    // A Service of the pod's own namespace resolves and answers over the service range
    // (kube-proxy back to the pod itself: hairpin). Debian's static busybox wget crashes
    // (static glibc without NSS), so nslookup resolves and nc speaks HTTP to the IP.
    let web_ip = env.k(&[
        "-n",
        &ns.name,
        "get",
        "service",
        "web",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let name = format!("web.{}.svc.cluster.local", ns.name);
    let lookup = env.k(&["-n", &ns.name, "exec", "web", "--", "nslookup", &name]);
    assert!(
        lookup.contains(web_ip.trim()),
        "{name} resolves to {web_ip}:\n{lookup}"
    );
    let request = format!(
        "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {} 80",
        web_ip.trim()
    );
    let response = env.k(&["-n", &ns.name, "exec", "web", "--", "sh", "-c", &request]);
    assert!(
        response.starts_with("HTTP/1.1 200") && response.trim_end().ends_with("ok"),
        "{response}"
    );
}

#[test]
fn image_from_an_unknown_registry_is_refused_on_loopback() {
    let Some(env) = cluster("image_from_an_unknown_registry_is_refused_on_loopback") else {
        return;
    };
    let ns = env.namespace("pull");
    env.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: public, namespace: {} }}\nspec:\n  containers:\n    - {{ name: main, image: \"quay.io/x/y:1\" }}\n",
        ns.name
    ));
    let mut message = String::new();
    let mut reason = String::new();
    wait_until(Duration::from_secs(60), "a pull failure event", || {
        let pod = env.json(&["-n", &ns.name, "get", "pod", "public"]);
        reason = pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let events = env.json(&[
            "-n",
            &ns.name,
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=public",
        ]);
        message = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["message"].as_str())
            .find(|m| m.contains("quay.io/x/y:1") && m.contains("127.0.0.1"))
            .unwrap_or_default()
            .to_string();
        !message.is_empty() && matches!(reason.as_str(), "ErrImagePull" | "ImagePullBackOff")
    });
    assert!(
        message.contains("connection refused"),
        "refused at once on loopback: {message}"
    );
    if let Some(logs) = &env.logs {
        let log = std::fs::read_to_string(logs.join("containerd.log")).unwrap_or_default();
        assert!(
            log.lines()
                .any(|l| l.contains("quay.io/x/y:1") && l.contains("127.0.0.1")),
            "containerd's log shows the pull going to loopback"
        );
    }
}

#[test]
fn claim_binds_through_the_default_storage_class() {
    let Some(env) = cluster("claim_binds_through_the_default_storage_class") else {
        return;
    };
    let classes = env.json(&["get", "storageclass"]);
    let default: Vec<&str> = classes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        })
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(default, ["local-path"]);
    let ns = env.namespace("pvc");
    env.apply(&format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{ name: data, namespace: {ns} }}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{ requests: {{ storage: 16Mi }} }}\n---\n{}",
        busybox_pod(&env, "writer", &format!("echo kept > /data/file && {HTTPD}"), "      volumeMounts: [{ name: data, mountPath: /data }]\n  volumes: [{ name: data, persistentVolumeClaim: { claimName: data } }]\n")
            .replace("metadata:\n", &format!("metadata:\n  namespace: {}\n", ns.name)),
        ns = ns.name
    ));
    env.wait_ready(&ns.name, "writer", 120);
    let pvc = env.json(&["-n", &ns.name, "get", "pvc", "data"]);
    assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    assert_eq!(pvc["spec"]["storageClassName"], "local-path");
    let read = env.k(&["-n", &ns.name, "exec", "writer", "--", "cat", "/data/file"]);
    assert_eq!(read.trim(), "kept");
}

/// Deletes the test's Application (without waiting) when dropped, passed or not.
struct Application<'a> {
    env: &'a Env,
    name: &'a str,
}

impl Drop for Application<'_> {
    fn drop(&mut self) {
        let ns = self.env.argocd_ns.as_str();
        let _ = self.env.kubectl(
            &["-n", ns, "delete", "application", self.name, "--wait=false"],
            None,
        );
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn argo_cd_syncs_a_git_daemon_repository_to_synced_healthy() {
    let Some(env) = cluster("argo_cd_syncs_a_git_daemon_repository_to_synced_healthy") else {
        return;
    };
    let ns = env.namespace("argo");
    // A repository with a kustomization (the repo-server runs kustomize from its PATH).
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("app.git");
    std::fs::create_dir_all(repo.join("tree")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("tree/kustomization.yaml"),
        "resources: [config.yaml, web.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("tree/config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: synced }\ndata: { from: git-daemon }\n",
    )
    .unwrap();
    let pod = busybox_pod(&env, "web", HTTPD, "");
    let template: String = pod
        .split_once("spec:\n")
        .unwrap()
        .1
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect();
    std::fs::write(
        repo.join("tree/web.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web }}\nspec:\n  replicas: 1\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec:\n{template}"
        ),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "tree",
        ],
    );

    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let daemon = Daemon(
        Command::new(git_daemon())
            .args([
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                "--reuseaddr",
                "--export-all",
            ])
            .arg(format!("--base-path={}", base.path().display()))
            .arg(base.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(Duration::from_secs(10), "git daemon", || {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
    });

    // A fixed name: a run that died half-way leaves at most this one Application behind, and
    // the next run replaces it.
    let app = "lane-cluster-test-argo";
    let _ = env.kubectl(
        &[
            "-n",
            &env.argocd_ns,
            "delete",
            "application",
            app,
            "--wait=true",
            "--timeout=30s",
        ],
        None,
    );
    let _cleanup = Application {
        env: &env,
        name: app,
    };
    env.apply(&format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{ name: {app}, namespace: {argo} }}
spec:
  project: default
  source: {{ repoURL: "git://127.0.0.1:{port}/app.git", targetRevision: main, path: tree }}
  destination: {{ server: "https://kubernetes.default.svc", namespace: {ns} }}
  syncPolicy: {{ automated: {{ prune: true, selfHeal: true }} }}
"#,
        argo = env.argocd_ns,
        ns = ns.name
    ));
    let start = Instant::now();
    let (synced, last) = loop {
        let last = env.json(&["-n", &env.argocd_ns, "get", "application", app]);
        let status = &last["status"];
        if status["sync"]["status"] == "Synced" && status["health"]["status"] == "Healthy" {
            break (true, last);
        }
        if start.elapsed() > Duration::from_secs(150) {
            break (false, last);
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    drop(daemon);
    assert!(
        synced,
        "Application not Synced/Healthy in 150s: {}",
        last["status"]
    );
    let cm = env.k(&[
        "-n",
        &ns.name,
        "get",
        "configmap",
        "synced",
        "-o",
        "jsonpath={.data.from}",
    ]);
    assert_eq!(cm, "git-daemon");
    let ready = env.k(&[
        "-n",
        &ns.name,
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    assert_eq!(ready, "1");
}

/// `git-daemon` itself: `git daemon` runs it as a child, so killing `git` would leave the
/// daemon running.
fn git_daemon() -> std::path::PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-daemon")
}
