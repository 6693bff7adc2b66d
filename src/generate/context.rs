//! Everything the templates see, derived from one lane (deploy.json). Nothing here is a
//! literal name of a particular lane: a v0.2 deploy.json gives a wholly new set.

use serde::Serialize;

use super::GenerateError;
use crate::model::intent::ImageSource;
use crate::model::names::{SecretNames, TaskNames};
use crate::model::{labels, Lane, LaneNames};

/// buildah image for the build step: the official `quay.io/buildah/stable` at v1.39.0 (has
/// `--cache-to/--cache-from` since 1.27), pinned by the digest its publisher gave that tag.
pub const BUILDAH_IMAGE: &str = "quay.io/buildah/stable:v1.39.0@sha256:85ad593f788870d76c4e0d37c42279d42416b7cad2c1577dd019c83ae04232fa";

/// Kinds the rendered runtime tree may contain (the AppProject admits exactly these).
const RUNTIME_KINDS: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "PersistentVolumeClaim"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("apps", "Deployment"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContext {
    pub names: LaneNames,
    /// `<project>-<short>`: prefix of every lane-owned CI object (Tasks, Triggers, Secrets).
    pub prefix: String,
    pub tasks: TaskNames,
    pub triggers: TriggerNames,
    pub secrets: SecretNames,
    pub lane_image: Option<String>,
    pub buildah_image: String,
    /// `HTTP_PROXY`… env of the steps that reach the network (empty without `lane.proxy`).
    pub proxy_env: Vec<EnvPair>,
    pub registry_insecure: bool,
    /// `--allow-insecure-registry`: the Pipeline's `allow-insecure-registry` default.
    pub allow_insecure_registry: bool,
    /// The build table: `<service>\t<key>\t<value>` lines (see the build-publish Task).
    pub builds: String,
    /// Services that can be built (for descriptions).
    pub build_services: Vec<String>,
    pub runtime_kinds: Vec<GroupKind>,
    /// The runtime kinds' resources by API group: `lane verify` reads every object of the
    /// tree (`live.source-commit`), so its Role grants `get` on exactly these.
    pub runtime_resources: Vec<GroupResources>,
    /// Secrets deploy.json names (secretKeyRef, secret volumes) but lane never renders: the
    /// operator creates them in the lane namespace, and the AppProject does not report them
    /// as orphaned.
    pub operator_secrets: Vec<String>,
    pub labels: Vec<EnvPair>,
    /// `labels` without the lane's own: objects every lane of the project shares (the CI
    /// namespace) must not flip between lanes when each applies them.
    pub project_labels: Vec<EnvPair>,
    /// Label keys stamped on images (shared with `publish`).
    pub oci: OciLabels,
    /// The project's CI checks in the validate Task (deploy/ci-checks.json), if declared.
    pub ci: Option<crate::ci::TaskContext>,
    /// Tekton's matrix cap the Pipeline is generated for (`default-max-matrix-combinations-count`).
    pub max_matrix: usize,
    /// The build matrices: one PipelineTask per `max_matrix` buildable services.
    pub build_chunks: Vec<BuildChunk>,
    /// The CI namespace's Pod Security level (`pod-security.kubernetes.io/enforce`).
    pub pod_security: PodSecurity,
    /// The CronJob that prunes finished PipelineRuns (generated with a task image only).
    pub prune: PruneNames,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneNames {
    pub cron_job: String,
    pub service_account: String,
    /// Cron schedule (hourly, off the full hour).
    pub schedule: String,
    /// Finished runs kept (the CronJob's `LANE_PRUNE_KEEP`).
    pub keep: String,
}

/// Tekton's default matrix cap (`config-defaults` `default-max-matrix-combinations-count`).
pub const DEFAULT_MAX_MATRIX: usize = 256;

/// One build matrix of the Pipeline: its PipelineTask and the plan results that feed it. The
/// first keeps the names of a one-matrix Pipeline (`build-publish`, `affected`, `build`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildChunk {
    pub index: usize,
    pub task: String,
    pub affected: String,
    pub build: String,
    /// `RESULT_AFFECTED…` / `RESULT_BUILD…` env names in the plan step.
    pub affected_env: String,
    pub build_env: String,
}

impl BuildChunk {
    fn new(index: usize) -> BuildChunk {
        let suffix = if index == 0 {
            String::new()
        } else {
            format!("-{}", index + 1)
        };
        let env = suffix.replace('-', "_");
        BuildChunk {
            index,
            task: format!("build-publish{suffix}"),
            affected: format!("affected{suffix}"),
            build: format!("build{suffix}"),
            affected_env: format!("RESULT_AFFECTED{env}"),
            build_env: format!("RESULT_BUILD{env}"),
        }
    }
}

/// The build matrices for `services` buildable services under a cap of `max` each.
pub fn build_chunks(services: usize, max: usize) -> Vec<BuildChunk> {
    let n = services.div_ceil(max.max(1)).max(1);
    (0..n).map(BuildChunk::new).collect()
}

/// What the CI namespace's pods need, with the reason (shown in the generated Namespace).
#[derive(Debug, Clone, Serialize)]
pub struct PodSecurity {
    pub enforce: &'static str,
    pub audit: &'static str,
    pub warn: &'static str,
}

/// The build step runs rootless buildah: user namespaces need `seccompProfile: Unconfined` and
/// `appArmorProfile: Unconfined` (tasks/build-publish.yaml), and the TriggerTemplate's runs use
/// `hostNetwork`; the `baseline` level forbids all three, so `privileged` is the least that
/// admits the build pod. Audit and warn stay at `baseline`, naming what goes beyond it.
pub const POD_SECURITY: PodSecurity = PodSecurity {
    enforce: "privileged",
    audit: "baseline",
    warn: "baseline",
};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerNames {
    pub event_listener: String,
    pub binding: String,
    pub template: String,
    pub service_account: String,
    /// CEL filter: only pushes to the lane's source branch of the lane's source repository.
    pub filter: String,
    /// CEL overlay giving the first 12 characters of the pushed commit.
    pub short_expression: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvPair {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupResources {
    pub group: String,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OciLabels {
    pub revision: &'static str,
    pub source: &'static str,
    pub service: &'static str,
    pub dockerfile: &'static str,
    pub lane: &'static str,
}

/// A CEL single-quoted string literal.
pub fn cel_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `owner/name` of a GitHub-style repository URL (scp-like `git@host:o/n.git`, `ssh://`,
/// `https://`), as GitHub reports it in `repository.full_name`.
pub fn repo_full_name(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((_, r)) => r.split_once('/')?.1,
        None => url.split_once(':')?.1,
    };
    let path = rest.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.rsplitn(3, '/');
    let name = parts.next().filter(|s| !s.is_empty())?;
    let owner = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{owner}/{name}"))
}

fn check_build_value(index: usize, field: &str, value: &str) -> Result<(), GenerateError> {
    if value.chars().any(char::is_control) {
        return Err(GenerateError::BuildValue {
            index,
            field: field.into(),
            problem: "contains a control character (tab, newline, …)",
        });
    }
    if value.trim() != value {
        return Err(GenerateError::BuildValue {
            index,
            field: field.into(),
            problem: "has leading or trailing whitespace",
        });
    }
    Ok(())
}

impl GenerateContext {
    pub fn new(lane: &Lane, lane_image: Option<&str>) -> Result<GenerateContext, GenerateError> {
        let n = &lane.names;
        let spec = &lane.intent().lane;
        let tekton = n.tekton();

        let mut filter = format!(
            "body.ref == {} && !body.deleted",
            cel_quote(&format!("refs/heads/{}", n.source_branch))
        );
        if let Some(full) = repo_full_name(&n.source_repo) {
            filter.push_str(&format!(
                " && body.repository.full_name == {}",
                cel_quote(&full)
            ));
        }

        let mut proxy_env = Vec::new();
        let p = &spec.proxy;
        let mut push = |name: &str, value: &str| {
            for key in [name.to_string(), name.to_ascii_lowercase()] {
                proxy_env.push(EnvPair {
                    name: key,
                    value: value.to_string(),
                });
            }
        };
        if let Some(v) = &p.http_proxy {
            push("HTTP_PROXY", v);
        }
        if let Some(v) = &p.https_proxy {
            push("HTTPS_PROXY", v);
        }
        if !p.no_proxy.is_empty() {
            push("NO_PROXY", &p.no_proxy.join(","));
        }

        let mut builds = String::new();
        let mut build_services = Vec::new();
        for (i, s) in lane.intent().services.iter().enumerate() {
            let ImageSource::Build(b) = s.source() else {
                continue;
            };
            let mut line = |key: &str, value: &str| -> Result<(), GenerateError> {
                check_build_value(i, key, value)?;
                builds.push_str(&format!("{}\t{key}\t{value}\n", s.id));
                Ok(())
            };
            line("repository", &s.image_repository(spec))?;
            line("context", &b.context)?;
            line("dockerfile", &b.dockerfile)?;
            if let Some(t) = &b.target {
                line("target", t)?;
            }
            for (k, v) in &b.args {
                line("build-arg", &format!("{k}={v}"))?;
            }
            build_services.push(s.id.to_string());
        }

        let labels = vec![
            EnvPair {
                name: labels::APP_PART_OF.into(),
                value: n.project.clone(),
            },
            EnvPair {
                name: labels::APP_MANAGED_BY.into(),
                value: labels::MANAGED_BY_VALUE.into(),
            },
            EnvPair {
                name: labels::LANE.into(),
                value: n.version.to_string(),
            },
        ];

        let project_labels = labels
            .iter()
            .filter(|l| l.name != labels::LANE)
            .cloned()
            .collect();
        let mut runtime_resources: Vec<GroupResources> = Vec::new();
        for (g, k) in RUNTIME_KINDS {
            let plural = crate::kube::plural(k);
            match runtime_resources.iter_mut().find(|r| r.group == *g) {
                Some(r) => r.resources.push(plural),
                None => runtime_resources.push(GroupResources {
                    group: g.to_string(),
                    resources: vec![plural],
                }),
            }
        }
        let mut operator_secrets: Vec<String> = lane
            .intent()
            .services
            .iter()
            .flat_map(|s| {
                let env = s
                    .env
                    .iter()
                    .filter_map(|e| e.secret_key_ref.as_ref().map(|r| r.name.clone()));
                let vols = s
                    .volumes
                    .iter()
                    .filter_map(|v| v.secret.as_ref().map(|p| p.secret_name.clone()));
                env.chain(vols).collect::<Vec<_>>()
            })
            .collect();
        operator_secrets.sort();
        operator_secrets.dedup();

        let build_services_len = build_services.len();
        Ok(GenerateContext {
            runtime_resources,
            operator_secrets,
            tasks: tekton.tasks,
            triggers: TriggerNames {
                event_listener: tekton.triggers.event_listener,
                binding: tekton.triggers.binding,
                template: tekton.triggers.template,
                service_account: tekton.triggers.service_account,
                filter,
                short_expression: "body.after.truncate(12)".into(),
            },
            secrets: tekton.secrets,
            lane_image: lane_image.map(str::to_string),
            buildah_image: BUILDAH_IMAGE.into(),
            proxy_env,
            registry_insecure: spec.registry.insecure,
            allow_insecure_registry: false,
            builds,
            build_services,
            runtime_kinds: RUNTIME_KINDS
                .iter()
                .map(|(g, k)| GroupKind {
                    group: g.to_string(),
                    kind: k.to_string(),
                })
                .collect(),
            labels,
            project_labels,
            oci: OciLabels {
                revision: labels::OCI_REVISION,
                source: labels::OCI_SOURCE,
                service: labels::OCI_SERVICE,
                dockerfile: labels::OCI_DOCKERFILE,
                lane: labels::OCI_LANE,
            },
            names: n.clone(),
            prefix: tekton.prefix,
            ci: None,
            max_matrix: DEFAULT_MAX_MATRIX,
            build_chunks: build_chunks(build_services_len, DEFAULT_MAX_MATRIX),
            pod_security: POD_SECURITY,
            prune: PruneNames {
                cron_job: tekton.prune_cron_job,
                service_account: tekton.prune_service_account,
                schedule: "17 * * * *".into(),
                keep: "10".into(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_from_urls() {
        for url in [
            "git@github.com:pikasTech/agentrun.git",
            "https://github.com/pikasTech/agentrun.git",
            "ssh://git@github.com/pikasTech/agentrun",
            "https://github.com/pikasTech/agentrun/",
        ] {
            assert_eq!(
                repo_full_name(url).as_deref(),
                Some("pikasTech/agentrun"),
                "{url}"
            );
        }
        assert_eq!(repo_full_name("nonsense"), None);
    }

    #[test]
    fn build_matrices_hold_at_most_the_cap() {
        let names = |n, max| {
            build_chunks(n, max)
                .into_iter()
                .map(|c| (c.task, c.affected, c.build_env))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(2, 256),
            [(
                "build-publish".into(),
                "affected".into(),
                "RESULT_BUILD".into()
            )]
        );
        assert_eq!(names(0, 256).len(), 1, "a lane without builds keeps one");
        assert_eq!(names(4, 4).len(), 1);
        let ten = names(10, 4);
        assert_eq!(ten.len(), 3);
        assert_eq!(
            ten[2],
            (
                "build-publish-3".into(),
                "affected-3".into(),
                "RESULT_BUILD_3".into()
            )
        );
    }

    #[test]
    fn cel_strings_are_quoted() {
        assert_eq!(cel_quote("refs/heads/v0.1"), "'refs/heads/v0.1'");
        assert_eq!(cel_quote("a'b\\c"), "'a\\'b\\\\c'");
    }
}
