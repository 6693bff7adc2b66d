//! Lane names from one rule (docs/architecture.md, "Lane names").
//!
//! Every name a lane owns derives from its version, project and cluster here and nowhere
//! else; the `lane.names` block may override any of them explicitly. Tasks, Pipeline,
//! Application and the rendered tree all take their names from [`LaneNames`].

use serde::Serialize;

use super::intent::LaneSpec;

/// The resolved names of one lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneNames {
    /// Lane version as written (`v0.1`).
    pub version: String,
    /// Version without dots (`v01`), used inside names.
    pub short: String,
    pub project: String,
    pub cluster: String,
    pub source_repo: String,
    pub gitops_repo: String,
    pub source_branch: String,
    pub gitops_branch: String,
    pub catalog_path: String,
    pub runtime_path: String,
    pub namespace: String,
    pub tekton_namespace: String,
    pub pipeline: String,
    pub tekton_service_account: String,
    pub pipeline_run_prefix: String,
    pub argo_namespace: String,
    pub argo_project: String,
    pub argo_application: String,
    pub registry: String,
}

/// `v0.1` → `v01`; `v1.10` → `v110`. Only dots are dropped: the version is validated to be
/// `v<major>.<minor>` before this is called.
pub fn short_version(version: &str) -> String {
    version.replace('.', "")
}

impl LaneNames {
    /// Derive every name from the lane block, applying overrides.
    pub fn resolve(lane: &LaneSpec) -> LaneNames {
        let short = short_version(&lane.version);
        let p = &lane.project;
        let c = &lane.cluster;
        let o = &lane.names;
        let pick = |v: &Option<String>, d: String| v.clone().unwrap_or(d);
        LaneNames {
            version: lane.version.clone(),
            project: p.clone(),
            cluster: c.clone(),
            source_repo: lane.source_repo.clone(),
            gitops_repo: lane
                .gitops_repo
                .clone()
                .unwrap_or_else(|| lane.source_repo.clone()),
            source_branch: pick(&o.source_branch, lane.version.clone()),
            gitops_branch: pick(&o.gitops_branch, format!("{}-gitops", lane.version)),
            catalog_path: pick(
                &o.catalog_path,
                format!("deploy/artifact-catalog.{short}.json"),
            ),
            runtime_path: pick(
                &o.runtime_path,
                format!("deploy/gitops/{c}/runtime-{short}"),
            ),
            namespace: pick(&o.namespace, format!("{p}-{short}")),
            tekton_namespace: pick(&o.tekton_namespace, format!("{p}-ci")),
            pipeline: pick(&o.pipeline, format!("{p}-{short}-ci-image-publish")),
            tekton_service_account: pick(
                &o.tekton_service_account,
                format!("{p}-{short}-tekton-runner"),
            ),
            pipeline_run_prefix: pick(&o.pipeline_run_prefix, format!("{p}-{short}-ci-")),
            argo_namespace: pick(&o.argo_namespace, "argocd".to_string()),
            argo_project: pick(&o.argo_project, format!("{p}-{short}")),
            argo_application: pick(&o.argo_application, format!("{p}-{c}-{short}")),
            registry: lane.registry.host.clone(),
            short,
        }
    }

    /// PipelineRun name for a source commit: `<prefix><first 12 of the commit>`.
    pub fn pipeline_run_name(&self, commit: &str) -> String {
        let n = commit.len().min(12);
        format!("{}{}", self.pipeline_run_prefix, &commit[..n])
    }

    /// Fully qualified ref of the GitOps branch.
    pub fn gitops_ref(&self) -> String {
        format!("refs/heads/{}", self.gitops_branch)
    }

    /// Fully qualified ref of the source branch.
    pub fn source_ref(&self) -> String {
        format!("refs/heads/{}", self.source_branch)
    }

    /// The names of the lane's Tekton Tasks, Triggers objects, Secrets and pruner:
    /// `<project>-<short>-<role>`, the same rule as the Pipeline's name.
    pub fn tekton(&self) -> TektonNames {
        let prefix = format!("{}-{}", self.project, self.short);
        let name = |role: &str| format!("{prefix}-{role}");
        TektonNames {
            tasks: TaskNames {
                prepare_source: name("prepare-source"),
                validate: name("validate"),
                plan: name("plan"),
                build_publish: name("build-publish"),
                promote: name("promote"),
                verify: name("verify"),
            },
            triggers: TriggerObjectNames {
                event_listener: name("github"),
                binding: name("github-push"),
                template: name("ci"),
                service_account: name("triggers"),
            },
            secrets: SecretNames {
                git_ssh: name("git-ssh"),
                docker_config: name("docker-config"),
                webhook: name("github-webhook"),
                webhook_key: "secretToken".into(),
            },
            prune_cron_job: name("prune"),
            prune_service_account: name("pruner"),
            prefix,
        }
    }
}

/// Every Tekton-side object name of a lane besides the Pipeline ([`LaneNames::tekton`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TektonNames {
    /// `<project>-<short>`: what every name below starts with.
    pub prefix: String,
    pub tasks: TaskNames,
    pub triggers: TriggerObjectNames,
    pub secrets: SecretNames,
    pub prune_cron_job: String,
    pub prune_service_account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNames {
    pub prepare_source: String,
    pub validate: String,
    pub plan: String,
    pub build_publish: String,
    pub promote: String,
    pub verify: String,
}

/// The Triggers objects that turn a GitHub push into a PipelineRun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerObjectNames {
    pub event_listener: String,
    pub binding: String,
    pub template: String,
    pub service_account: String,
}

/// The Secrets the operator creates in the Tekton namespace, and the webhook Secret's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretNames {
    pub git_ssh: String,
    pub docker_config: String,
    pub webhook: String,
    pub webhook_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::intent::{NameOverrides, ProxySpec, RegistrySpec};

    fn lane(version: &str) -> LaneSpec {
        LaneSpec {
            version: version.into(),
            project: "agentrun".into(),
            cluster: "g14".into(),
            source_repo: "git@github.com:pikasTech/agentrun.git".into(),
            gitops_repo: None,
            registry: RegistrySpec {
                host: "127.0.0.1:5000".into(),
                repository_prefix: "agentrun".into(),
                insecure: true,
            },
            proxy: ProxySpec::default(),
            names: NameOverrides::default(),
        }
    }

    #[test]
    fn v01_matches_spec_table() {
        let n = LaneNames::resolve(&lane("v0.1"));
        assert_eq!(n.source_branch, "v0.1");
        assert_eq!(n.gitops_branch, "v0.1-gitops");
        assert_eq!(n.catalog_path, "deploy/artifact-catalog.v01.json");
        assert_eq!(n.runtime_path, "deploy/gitops/g14/runtime-v01");
        assert_eq!(n.namespace, "agentrun-v01");
        assert_eq!(n.tekton_namespace, "agentrun-ci");
        assert_eq!(n.pipeline, "agentrun-v01-ci-image-publish");
        assert_eq!(n.tekton_service_account, "agentrun-v01-tekton-runner");
        assert_eq!(n.argo_project, "agentrun-v01");
        assert_eq!(n.argo_application, "agentrun-g14-v01");
        assert_eq!(
            n.pipeline_run_name("0123456789abcdef0123456789abcdef01234567"),
            "agentrun-v01-ci-0123456789ab"
        );
    }

    #[test]
    fn a_new_lane_is_a_new_set_of_names() {
        let a = LaneNames::resolve(&lane("v0.1"));
        let b = LaneNames::resolve(&lane("v0.2"));
        assert_eq!(b.namespace, "agentrun-v02");
        assert_eq!(b.gitops_branch, "v0.2-gitops");
        assert_ne!(a.argo_application, b.argo_application);
        assert_ne!(a.catalog_path, b.catalog_path);
    }

    #[test]
    fn overrides_win() {
        let mut l = lane("v0.1");
        l.names.namespace = Some("custom-ns".into());
        let n = LaneNames::resolve(&l);
        assert_eq!(n.namespace, "custom-ns");
        assert_eq!(n.argo_project, "agentrun-v01");
    }
}
