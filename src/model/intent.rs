//! `deploy/deploy.json`: the lane's one hand-written CD truth (docs/architecture.md, "Truth
//! sources").
//!
//! Runtime intent only. Anything machine-written (tags, digests, publish state, revisions,
//! manifests) or secret is rejected by [`crate::model::check`] before these types are used.
//! Every struct denies unknown fields: a typo must fail, not silently drop intent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{ImageRepository, RepoPath, ServiceId};
use crate::newtype::{typed, TypeMismatch};

/// Schema versions this build understands.
pub const SUPPORTED_SCHEMA_VERSIONS: &[u32] = &[1];

/// deploy.json as parsed, before its rules ran: service ids and build paths are text, so
/// that `model::check` reports every bad one. Only the loader turns it into the checked
/// [`DeployIntent`] ([`IntentText::into_checked`]), whose ids are [`ServiceId`]s and paths
/// [`RepoPath`]s.
pub type IntentText = DeployIntent<String, String>;
/// A service of an [`IntentText`].
pub type ServiceText = Service<String, String>;

/// The deploy intent. `I` is a service id, `P` a repository path: [`ServiceId`] and
/// [`RepoPath`] once checked (the default), `String` as parsed ([`IntentText`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "I: Deserialize<'de>, P: Deserialize<'de>")
)]
pub struct DeployIntent<I = ServiceId, P = RepoPath> {
    pub schema_version: u32,
    pub lane: LaneSpec,
    pub services: Vec<Service<I, P>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<ServiceAccountIntent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persistent_volume_claims: Vec<PvcIntent>,
    #[serde(default)]
    pub network_policy: NetworkPolicyIntent<I>,
    #[serde(default)]
    pub ingress: IngressIntent,
}

/// The `lane` block: the version every name derives from, plus explicit overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaneSpec {
    /// Lane version, e.g. `v0.1`. Names derive from it (see [`crate::model::names`]).
    pub version: String,
    /// Project name, the first part of every derived name (`agentrun`).
    pub project: String,
    /// Cluster name, used in the runtime path and Application name (`g14`).
    pub cluster: String,
    /// Source repository URL (ssh or https), as Tekton clones it.
    pub source_repo: String,
    /// GitOps repository URL when it is not the source repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops_repo: Option<String>,
    pub registry: RegistrySpec,
    #[serde(default)]
    pub proxy: ProxySpec,
    /// Explicit overrides of derived names; anything not given is derived.
    #[serde(default)]
    pub names: NameOverrides,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrySpec {
    /// `host[:port]` of the lane registry, e.g. `127.0.0.1:5000`.
    pub host: String,
    /// Repository prefix under the host; images are `<host>/<prefix>/<service>`.
    pub repository_prefix: String,
    /// Plain HTTP. Only honoured for loopback hosts unless `--allow-insecure` is given.
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameOverrides {
    pub source_branch: Option<String>,
    pub gitops_branch: Option<String>,
    pub catalog_path: Option<String>,
    pub runtime_path: Option<String>,
    pub namespace: Option<String>,
    pub tekton_namespace: Option<String>,
    pub pipeline: Option<String>,
    pub tekton_service_account: Option<String>,
    pub pipeline_run_prefix: Option<String>,
    pub argo_namespace: Option<String>,
    pub argo_project: Option<String>,
    pub argo_application: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ComponentKind {
    /// Long-running service: a Deployment (+ ClusterIP Service when it has ports).
    Deployment,
    /// Runner Job template: rendered as a suspended CronJob whose jobTemplate the manager
    /// instantiates (a Job's pod template is immutable; a CronJob's jobTemplate is not).
    Job,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Deployment => "deployment",
            ComponentKind::Job => "job",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "I: Deserialize<'de>, P: Deserialize<'de>")
)]
pub struct Service<I = ServiceId, P = RepoPath> {
    pub id: I,
    pub kind: ComponentKind,
    /// Whether the service takes part in the lane. Disabled services are `excluded`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Built from this repository. Mutually exclusive with `upstream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSource<P>>,
    /// Image-only upstream service, pinned by digest at publish time, never built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamImage>,
    /// Repository under the lane registry; default `<repositoryPrefix>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Non-secret configuration, rendered as ConfigMap `<id>-config` and loaded with envFrom.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Name of a ServiceAccount declared in `serviceAccounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Runner Jobs only: limits copied into the jobTemplate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSettings>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "P: Deserialize<'de>")
)]
pub struct BuildSource<P = RepoPath> {
    /// Build context directory, repo-relative.
    pub context: P,
    /// Dockerfile path, repo-relative.
    pub dockerfile: P,
    /// Build arguments; part of the build fingerprint. Never secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// Multi-stage target, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamImage {
    /// Fully qualified repository, e.g. `docker.io/library/redis`.
    pub repository: String,
    /// Upstream tag to resolve; the digest is recorded in the catalog, never here.
    pub tag: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "ephemeral-storage"
    )]
    pub ephemeral_storage: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Port {
    /// IANA_SVC_NAME: lowercase, at most 15 characters.
    pub name: String,
    pub container_port: u16,
    /// ClusterIP Service port; defaults to `containerPort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port: Option<u16>,
    #[serde(default)]
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Health {
    /// HTTP path, starting with `/`.
    pub path: String,
    /// Name of one of the service's ports.
    pub port: String,
}

/// One env var: a plain non-secret value, or a reference to a Secret/ConfigMap key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRef {
    pub name: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// A volume and where it is mounted. Exactly one source must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    pub mount_path: String,
    /// Secret projection; always mounted read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretProjection>,
    /// A PVC declared in `persistentVolumeClaims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcMount>,
    /// A writable emptyDir, optionally seeded from a secret projection (e.g. `CODEX_HOME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writable_home: Option<WritableHome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretProjection {
    pub secret_name: String,
    /// Keys to project; each becomes a file named `path` (default: the key).
    pub items: Vec<SecretItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretItem {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PvcMount {
    pub claim_name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WritableHome {
    /// Name of a `secret` volume of the same service whose files are copied in by an init step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_from: Option<String>,
    /// Env var that points at the mount path (e.g. `CODEX_HOME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountIntent {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RbacRule>,
    #[serde(default)]
    pub automount_token: bool,
}

/// One Role rule, namespaced to the lane namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RbacRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PvcIntent {
    pub name: String,
    pub size: String,
    #[serde(default = "default_access_modes")]
    pub access_modes: Vec<AccessMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_access_modes() -> Vec<AccessMode> {
    vec![AccessMode::ReadWriteOnce]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessMode {
    ReadWriteOnce,
    ReadOnlyMany,
    ReadWriteMany,
    ReadWriteOncePod,
}

/// NetworkPolicy intent. The lane namespace always gets a default-deny policy; these are
/// the allowances on top of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "I: Deserialize<'de>")
)]
pub struct NetworkPolicyIntent<I = ServiceId> {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressAllow<I>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressAllow<I>>,
}

impl<I> Default for NetworkPolicyIntent<I> {
    fn default() -> Self {
        NetworkPolicyIntent {
            ingress: Vec::new(),
            egress: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "I: Deserialize<'de>")
)]
pub struct IngressAllow<I = ServiceId> {
    /// Service that receives the traffic.
    pub to: I,
    /// Services of this lane allowed in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_services: Vec<I>,
    /// Other namespaces allowed in (by `kubernetes.io/metadata.name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_namespaces: Vec<String>,
    /// CIDR blocks allowed in (e.g. the node network, for API-server service-proxy checks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_cidrs: Vec<String>,
    /// Port names of the receiving service; empty means all of its ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    bound(deserialize = "I: Deserialize<'de>")
)]
pub struct EgressAllow<I = ServiceId> {
    /// Service that sends the traffic.
    pub from: I,
    /// Allow DNS to kube-system.
    #[serde(default)]
    pub dns: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_services: Vec<I>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_namespaces: Vec<String>,
    /// CIDR blocks (e.g. the Postgres host, the Kubernetes API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_cidrs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
}

/// Placeholder for public entry intent. v0.1 requires none; enabling it is rejected until a
/// reviewed ingress spec exists (docs/architecture.md, "Runtime boundaries").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressIntent {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl<I: std::borrow::Borrow<str>, P> DeployIntent<I, P> {
    pub fn service(&self, id: &str) -> Option<&Service<I, P>> {
        self.services.iter().find(|s| s.id.borrow() == id)
    }

    /// Services that take part in the lane, in file order.
    pub fn enabled_services(&self) -> impl Iterator<Item = &Service<I, P>> {
        self.services.iter().filter(|s| s.enabled)
    }
}

impl IntentText {
    /// The checked intent, once every rule of `model::check` passed: each service id and
    /// reference a [`ServiceId`], each build path a [`RepoPath`]. `Err` when a text is neither
    /// (which the rules refuse first, so the loader reports it as a lane bug).
    pub fn into_checked(self) -> Result<DeployIntent, TypeMismatch> {
        let id = typed::<ServiceId>;
        let ids = |v: Vec<String>| v.into_iter().map(id).collect::<Result<Vec<_>, _>>();
        let services = self
            .services
            .into_iter()
            .map(|s| {
                Ok(Service {
                    id: id(s.id)?,
                    build: match s.build {
                        None => None,
                        Some(b) => Some(BuildSource {
                            context: typed(b.context)?,
                            dockerfile: typed(b.dockerfile)?,
                            args: b.args,
                            target: b.target,
                        }),
                    },
                    kind: s.kind,
                    enabled: s.enabled,
                    upstream: s.upstream,
                    image_repository: s.image_repository,
                    replicas: s.replicas,
                    resources: s.resources,
                    ports: s.ports,
                    health: s.health,
                    command: s.command,
                    args: s.args,
                    env: s.env,
                    config: s.config,
                    volumes: s.volumes,
                    service_account: s.service_account,
                    job: s.job,
                })
            })
            .collect::<Result<Vec<_>, TypeMismatch>>()?;
        let np = self.network_policy;
        let network_policy = NetworkPolicyIntent {
            ingress: np
                .ingress
                .into_iter()
                .map(|a| {
                    Ok(IngressAllow {
                        to: id(a.to)?,
                        from_services: ids(a.from_services)?,
                        from_namespaces: a.from_namespaces,
                        from_cidrs: a.from_cidrs,
                        ports: a.ports,
                    })
                })
                .collect::<Result<Vec<_>, TypeMismatch>>()?,
            egress: np
                .egress
                .into_iter()
                .map(|a| {
                    Ok(EgressAllow {
                        from: id(a.from)?,
                        dns: a.dns,
                        to_services: ids(a.to_services)?,
                        to_namespaces: a.to_namespaces,
                        to_cidrs: a.to_cidrs,
                        ports: a.ports,
                    })
                })
                .collect::<Result<Vec<_>, TypeMismatch>>()?,
        };
        Ok(DeployIntent {
            schema_version: self.schema_version,
            lane: self.lane,
            services,
            service_accounts: self.service_accounts,
            persistent_volume_claims: self.persistent_volume_claims,
            network_policy,
            ingress: self.ingress,
        })
    }
}

impl<I: std::fmt::Display, P> Service<I, P> {
    /// Repository path under the registry host (no host): `<prefix>/<id>` unless overridden.
    pub fn repository_path(&self, lane: &LaneSpec) -> String {
        match &self.image_repository {
            Some(r) => r.clone(),
            None => format!("{}/{}", lane.registry.repository_prefix, self.id),
        }
    }

    /// Full image repository as text, `<registry host>/<repository path>`, or the upstream
    /// repository (what the `image-repository` rule checks).
    pub fn image_repository_text(&self, lane: &LaneSpec) -> String {
        match &self.upstream {
            Some(u) => u.repository.clone(),
            None => format!("{}/{}", lane.registry.host, self.repository_path(lane)),
        }
    }

    /// Source kind: what the service's image comes from.
    pub fn source(&self) -> ImageSource<'_, P> {
        match (&self.build, &self.upstream) {
            (Some(b), None) => ImageSource::Build(b),
            (None, Some(u)) => ImageSource::Upstream(u),
            _ => ImageSource::Unsupported,
        }
    }
}

impl Service {
    /// Full image repository, `<registry host>/<repository path>`, or the upstream repository.
    pub fn image_repository(&self, lane: &LaneSpec) -> ImageRepository {
        ImageRepository::checked(self.image_repository_text(lane))
    }
}

/// Where a service's image comes from.
#[derive(Debug, Clone, Copy)]
pub enum ImageSource<'a, P = RepoPath> {
    Build(&'a BuildSource<P>),
    Upstream(&'a UpstreamImage),
    /// Neither build nor upstream: nothing to build or pin (reported, never skipped).
    Unsupported,
}
