//! The embedded templates and where each one is written. `.yaml` templates auto-escape every
//! `{{ value }}` as a JSON literal (valid YAML), so no value can break the document structure.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};

use super::context::GenerateContext;
use super::{GenerateError, HEADER};

/// (template name, source, output path relative to `--out`).
const FILES: &[(&str, &str, &str)] = &[
    (
        "tekton/task-prepare-source.yaml",
        include_str!("../../templates/tekton/task-prepare-source.yaml"),
        "tasks/prepare-source.yaml",
    ),
    (
        "tekton/task-validate.yaml",
        include_str!("../../templates/tekton/task-validate.yaml"),
        "tasks/validate.yaml",
    ),
    (
        "tekton/task-plan.yaml",
        include_str!("../../templates/tekton/task-plan.yaml"),
        "tasks/plan.yaml",
    ),
    (
        "tekton/task-build-publish.yaml",
        include_str!("../../templates/tekton/task-build-publish.yaml"),
        "tasks/build-publish.yaml",
    ),
    (
        "tekton/task-promote.yaml",
        include_str!("../../templates/tekton/task-promote.yaml"),
        "tasks/promote.yaml",
    ),
    (
        "tekton/task-verify.yaml",
        include_str!("../../templates/tekton/task-verify.yaml"),
        "tasks/verify.yaml",
    ),
    (
        "tekton/pipeline.yaml",
        include_str!("../../templates/tekton/pipeline.yaml"),
        "pipelines/pipeline.yaml",
    ),
    (
        "tekton/pipelinerun-example.yaml",
        include_str!("../../templates/tekton/pipelinerun-example.yaml"),
        "pipelines/pipelinerun-example.yaml",
    ),
    (
        "tekton/triggers.yaml",
        include_str!("../../templates/tekton/triggers.yaml"),
        "pipelines/triggers.yaml",
    ),
    (
        "tekton/namespace.yaml",
        include_str!("../../templates/tekton/namespace.yaml"),
        "pipelines/namespace.yaml",
    ),
    (
        "tekton/prune.yaml",
        include_str!("../../templates/tekton/prune.yaml"),
        "pipelines/prune.yaml",
    ),
    (
        "tekton/rbac.yaml",
        include_str!("../../templates/tekton/rbac.yaml"),
        "pipelines/rbac.yaml",
    ),
    (
        "gitops/appproject.yaml",
        include_str!("../../templates/gitops/appproject.yaml"),
        "gitops/appproject.yaml",
    ),
    (
        "gitops/application.yaml",
        include_str!("../../templates/gitops/application.yaml"),
        "gitops/application.yaml",
    ),
];

/// Templates only imported by others.
const PARTIALS: &[(&str, &str)] = &[
    (
        "tekton/_macros.yaml",
        include_str!("../../templates/tekton/_macros.yaml"),
    ),
    (
        "tekton/_pipelinerun.yaml",
        include_str!("../../templates/tekton/_pipelinerun.yaml"),
    ),
];

fn env() -> Result<Environment<'static>, GenerateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| GenerateError::Template {
            template: "syntax".into(),
            message: e.to_string(),
        })?;
    env.set_syntax(syntax);
    for (name, src) in PARTIALS
        .iter()
        .copied()
        .chain(FILES.iter().map(|(n, s, _)| (*n, *s)))
    {
        env.add_template(name, src)
            .map_err(|e| GenerateError::Template {
                template: name.to_string(),
                message: format!("{e:#}"),
            })?;
    }
    Ok(env)
}

/// Render every file. Each gets the generated-file header.
pub fn render_all(ctx: &GenerateContext) -> Result<BTreeMap<String, String>, GenerateError> {
    let env = env()?;
    let mut out = BTreeMap::new();
    for (name, _, path) in FILES {
        let tmpl = env
            .get_template(name)
            .map_err(|e| GenerateError::Template {
                template: name.to_string(),
                message: format!("{e:#}"),
            })?;
        let body =
            tmpl.render(minijinja::value::Serde(ctx))
                .map_err(|e| GenerateError::Template {
                    template: name.to_string(),
                    message: format!("{e:#}"),
                })?;
        // A file that has nothing to say for this lane (the pruner without a task image).
        if body.lines().all(|l| l.trim().is_empty()) {
            continue;
        }
        let mut text = format!(
            "{HEADER} from the lane's deploy.json (lane {}). Do not edit: change deploy.json or\n# templates/{name} and run `lane generate`.\n",
            ctx.names.version
        );
        // Macro calls leave empty lines behind; no generated block scalar needs one.
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            text.push_str(line);
            text.push('\n');
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        out.insert(path.to_string(), text);
    }
    Ok(out)
}
