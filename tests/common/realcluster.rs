//! The real cluster of scripts/cluster.sh (`eval "$(scripts/cluster.sh env)"`), driven with its
//! own kubectl; and a guard that removes what a test created there. Without the cluster's
//! environment a test says it skipped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct RealCluster {
    pub kubeconfig: String,
    pub kubectl: PathBuf,
    pub api_server: String,
    pub ca_file: String,
}

impl RealCluster {
    /// The cluster of `LANE_CLUSTER_*`, or `None` after printing why `test` is skipped.
    pub fn from_env(test: &str) -> Option<RealCluster> {
        let (Ok(kubeconfig), Ok(api_server), Ok(ca_file)) = (
            std::env::var("LANE_CLUSTER_KUBECONFIG"),
            std::env::var("LANE_CLUSTER_API_SERVER"),
            std::env::var("LANE_CLUSTER_CA_FILE"),
        ) else {
            eprintln!("{test}: skipped (no real cluster: run scripts/cluster.sh up and eval \"$(scripts/cluster.sh env)\")");
            return None;
        };
        let kubectl = std::env::var("LANE_CLUSTER_BIN")
            .map(|b| std::path::Path::new(&b).join("kubectl"))
            .unwrap_or_else(|_| "kubectl".into());
        Some(RealCluster {
            kubeconfig,
            kubectl,
            api_server,
            ca_file,
        })
    }

    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> super::Run {
        let mut child = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.kubectl.display()));
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        super::Run::from(child.wait_with_output().unwrap())
    }

    pub fn apply(&self, yaml: &str) {
        let run = self.kubectl(&["apply", "-f", "-"], Some(yaml));
        assert_eq!(run.code, 0, "kubectl apply: {}\n{yaml}", run.stderr);
    }
}

/// Deletes, on drop, the manifests and namespaces a test created (without waiting).
pub struct Created<'a> {
    pub cluster: &'a RealCluster,
    pub manifests: Vec<String>,
    pub namespaces: Vec<String>,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        for m in &self.manifests {
            let _ = self.cluster.kubectl(
                &["delete", "--ignore-not-found", "--wait=false", "-f", "-"],
                Some(m),
            );
        }
        for ns in &self.namespaces {
            let _ = self.cluster.kubectl(
                &[
                    "delete",
                    "namespace",
                    ns,
                    "--ignore-not-found",
                    "--wait=false",
                ],
                None,
            );
        }
    }
}
