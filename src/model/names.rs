//! Lane names from one rule (docs/architecture.md, "Lane names").
//!
//! Every name a lane owns derives from its version, project and cluster here and nowhere
//! else; the `lane.names` block may override any of them explicitly. Tasks, Pipeline,
//! Application and the rendered tree all take their names from [`LaneNames`].

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::intent::LaneSpec;
use super::rules;
use crate::newtype::{text_newtype, typed, TypeMismatch};

/// What the names of a [`LaneNames`] are: text as resolved ([`Text`], what the deploy.json
/// rules read) or the checked newtypes ([`Checked`], what every reader gets from a `Lane`).
pub trait NameTypes: Debug + Clone + PartialEq + Eq {
    type Version: Debug + Clone + Eq + Serialize + DeserializeOwned + AsRef<str>;
    type Branch: Debug + Clone + Eq + Serialize + DeserializeOwned + AsRef<str>;
    type Kube: Debug + Clone + Eq + Serialize + DeserializeOwned + AsRef<str>;
    type Prefix: Debug + Clone + Eq + Serialize + DeserializeOwned + AsRef<str>;
    type Path: Debug + Clone + Eq + Serialize + DeserializeOwned + AsRef<str>;
}

/// Names as resolved, before the rules of `model::check::lane` ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text;

impl NameTypes for Text {
    type Version = String;
    type Branch = String;
    type Kube = String;
    type Prefix = String;
    type Path = String;
}

/// Names that passed their rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked;

impl NameTypes for Checked {
    type Version = LaneVersion;
    type Branch = BranchName;
    type Kube = KubeName;
    type Prefix = RunPrefix;
    type Path = GitopsPath;
}

/// The resolved names of one lane: every name a lane owns, derived from its version, project
/// and cluster or overridden in `lane.names`. The rules read them as text ([`NamesText`]);
/// a `Lane` carries them checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneNames<T: NameTypes = Checked> {
    /// Lane version as written (`v0.1`).
    pub version: T::Version,
    /// Version without dots (`v01`), used inside names.
    pub short: String,
    pub project: String,
    pub cluster: String,
    pub source_repo: String,
    pub gitops_repo: String,
    pub source_branch: T::Branch,
    pub gitops_branch: T::Branch,
    pub catalog_path: T::Path,
    pub runtime_path: T::Path,
    pub namespace: T::Kube,
    pub tekton_namespace: T::Kube,
    pub pipeline: T::Kube,
    pub tekton_service_account: T::Kube,
    pub pipeline_run_prefix: T::Prefix,
    pub argo_namespace: T::Kube,
    pub argo_project: T::Kube,
    pub argo_application: T::Kube,
    pub registry: String,
}

/// Lane names as resolved from the lane block, before their rules ran.
pub type NamesText = LaneNames<Text>;

/// A lane version, `v<major>.<minor>` ([`rules::is_lane_version`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LaneVersion(String);

/// A git branch name as `git check-ref-format --branch` accepts it ([`rules::is_branch_name`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

/// A Kubernetes object name that is a DNS-1123 label: namespaces, the Pipeline, the Tekton
/// ServiceAccount, the Argo CD project and Application.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KubeName(String);

/// A PipelineRun name prefix: a DNS-1123 label followed by `-`, at most 50 characters, so
/// that 12 commit characters still fit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunPrefix(String);

/// A path lane writes on the GitOps branch (the catalog file, the runtime directory): repo-
/// relative and in its one canonical spelling ([`rules::repo_path_problem`],
/// [`rules::gitops_path_problem`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GitopsPath(String);

/// Text that breaks the rule of the lane name type it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid lane name of its kind")]
pub struct NotALaneName;

impl LaneVersion {
    pub fn is_valid(s: &str) -> bool {
        rules::is_lane_version(s)
    }
}

impl BranchName {
    pub fn is_valid(s: &str) -> bool {
        rules::is_branch_name(s)
    }
}

impl KubeName {
    pub fn is_valid(s: &str) -> bool {
        rules::is_dns1123_label(s)
    }
}

impl RunPrefix {
    pub fn is_valid(s: &str) -> bool {
        s.ends_with('-') && rules::is_dns1123_label(s.trim_end_matches('-')) && s.len() <= 50
    }
}

impl GitopsPath {
    pub fn is_valid(s: &str) -> bool {
        rules::repo_path_problem(s)
            .or_else(|| rules::gitops_path_problem(s))
            .is_none()
    }
}

text_newtype!(LaneVersion, NotALaneName);
text_newtype!(BranchName, NotALaneName);
text_newtype!(KubeName, NotALaneName);
text_newtype!(RunPrefix, NotALaneName);
text_newtype!(GitopsPath, NotALaneName);

/// `v0.1` → `v01`; `v1.10` → `v110`. Only dots are dropped: the version is validated to be
/// `v<major>.<minor>` before this is called.
pub fn short_version(version: &str) -> String {
    version.replace('.', "")
}

impl NamesText {
    /// The checked names, once the rules of `model::check::lane` passed (`Err` when a name
    /// breaks its type's rule, which those rules refuse first).
    pub fn into_checked(self) -> Result<LaneNames, TypeMismatch> {
        Ok(LaneNames {
            version: typed(self.version)?,
            short: self.short,
            project: self.project,
            cluster: self.cluster,
            source_repo: self.source_repo,
            gitops_repo: self.gitops_repo,
            source_branch: typed(self.source_branch)?,
            gitops_branch: typed(self.gitops_branch)?,
            catalog_path: typed(self.catalog_path)?,
            runtime_path: typed(self.runtime_path)?,
            namespace: typed(self.namespace)?,
            tekton_namespace: typed(self.tekton_namespace)?,
            pipeline: typed(self.pipeline)?,
            tekton_service_account: typed(self.tekton_service_account)?,
            pipeline_run_prefix: typed(self.pipeline_run_prefix)?,
            argo_namespace: typed(self.argo_namespace)?,
            argo_project: typed(self.argo_project)?,
            argo_application: typed(self.argo_application)?,
            registry: self.registry,
        })
    }

    /// Derive every name from the lane block, applying overrides.
    pub fn resolve(lane: &LaneSpec) -> NamesText {
        let short = short_version(&lane.version);
        let p = &lane.project;
        let c = &lane.cluster;
        let o = &lane.names;
        let pick = |v: &Option<String>, d: String| v.clone().unwrap_or(d);
        NamesText {
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
}

impl<T: NameTypes> LaneNames<T> {
    /// PipelineRun name for a source commit: `<prefix><first 12 of the commit>`.
    pub fn pipeline_run_name(&self, commit: &str) -> String {
        let n = commit.len().min(12);
        format!("{}{}", self.pipeline_run_prefix.as_ref(), &commit[..n])
    }

    /// Fully qualified ref of the GitOps branch.
    pub fn gitops_ref(&self) -> String {
        format!("refs/heads/{}", self.gitops_branch.as_ref())
    }

    /// Fully qualified ref of the source branch.
    pub fn source_ref(&self) -> String {
        format!("refs/heads/{}", self.source_branch.as_ref())
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
