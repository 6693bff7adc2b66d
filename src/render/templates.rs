//! The template set: embedded in the binary (the task image runs standalone), optionally
//! overridden file by file from a directory.
//!
//! Templates are named `*.yaml`, so minijinja's `json` feature auto-escapes every value as a
//! JSON literal (JSON is valid YAML): no value from deploy.json or the catalog can change a
//! manifest's structure. Undefined variables are errors (strict), never empty strings.

use std::path::Path;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

use super::RenderError;
use crate::model::labels;

/// Every template, by name. Partials start with `_`.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "_metadata.yaml",
        include_str!("../../templates/runtime/_metadata.yaml"),
    ),
    (
        "_template_metadata.yaml",
        include_str!("../../templates/runtime/_template_metadata.yaml"),
    ),
    (
        "_pod.yaml",
        include_str!("../../templates/runtime/_pod.yaml"),
    ),
    (
        "_peers.yaml",
        include_str!("../../templates/runtime/_peers.yaml"),
    ),
    (
        "_ports.yaml",
        include_str!("../../templates/runtime/_ports.yaml"),
    ),
    (
        "configmap.yaml",
        include_str!("../../templates/runtime/configmap.yaml"),
    ),
    (
        "cronjob.yaml",
        include_str!("../../templates/runtime/cronjob.yaml"),
    ),
    (
        "deployment.yaml",
        include_str!("../../templates/runtime/deployment.yaml"),
    ),
    (
        "kustomization.yaml",
        include_str!("../../templates/runtime/kustomization.yaml"),
    ),
    (
        "networkpolicy-default-deny.yaml",
        include_str!("../../templates/runtime/networkpolicy-default-deny.yaml"),
    ),
    (
        "networkpolicy-egress.yaml",
        include_str!("../../templates/runtime/networkpolicy-egress.yaml"),
    ),
    (
        "networkpolicy-ingress.yaml",
        include_str!("../../templates/runtime/networkpolicy-ingress.yaml"),
    ),
    (
        "persistentvolumeclaim.yaml",
        include_str!("../../templates/runtime/persistentvolumeclaim.yaml"),
    ),
    (
        "role.yaml",
        include_str!("../../templates/runtime/role.yaml"),
    ),
    (
        "rolebinding.yaml",
        include_str!("../../templates/runtime/rolebinding.yaml"),
    ),
    (
        "service.yaml",
        include_str!("../../templates/runtime/service.yaml"),
    ),
    (
        "serviceaccount.yaml",
        include_str!("../../templates/runtime/serviceaccount.yaml"),
    ),
];

/// A loaded template set.
pub struct Templates {
    env: Environment<'static>,
}

/// Indent every non-empty line by `width`, keeping the trailing newline and the value's
/// safety (so an already-escaped block is not escaped twice).
fn indent_block(value: Value, width: usize) -> Value {
    let s = value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    let pad = " ".repeat(width);
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for line in s.split_inclusive('\n') {
        if line != "\n" {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    if value.is_safe() {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    }
}

/// Characters a JSON encoder writes raw but a YAML reader does not read back as the same
/// character: NEL, LS and PS are line breaks to YAML 1.1 readers (kustomize's included, which
/// fold `a\u{85}b` to `a b` and cut a document at `\u{2028}---`), DEL and C1 controls are not
/// printable YAML, and BOM/non-characters are refused or dropped by some readers.
fn yaml_unsafe(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// A JSON literal with every [`yaml_unsafe`] character written as a `\uXXXX` escape, which
/// JSON and YAML double-quoted scalars read as the same character. Those characters only
/// occur inside string literals, so the escape never lands in the literal's structure.
fn escape_yaml_unsafe(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if yaml_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// minijinja's JSON auto-escaping, plus [`escape_yaml_unsafe`] for values that need it (the
/// common all-ASCII value takes minijinja's path unchanged).
fn yaml_formatter(
    out: &mut minijinja::Output<'_>,
    state: &mut minijinja::State<'_, '_>,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let json = matches!(state.auto_escape(), minijinja::AutoEscape::Json) && !value.is_safe();
    let risky = json
        && match value.as_str() {
            Some(s) => !s.is_ascii() && s.chars().any(yaml_unsafe),
            None => value.as_object().is_some() || value.len().is_some(),
        };
    if risky {
        let text = serde_json::to_string(value).map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::BadSerialization,
                "unable to format to JSON",
            )
            .with_source(e)
        })?;
        if text.chars().any(yaml_unsafe) {
            return out
                .write_str(&escape_yaml_unsafe(&text))
                .map_err(minijinja::Error::from);
        }
    }
    minijinja::escape_formatter(out, state, value)
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_formatter(yaml_formatter);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters"),
    );
    env.add_filter("indent_block", indent_block);
    env.add_global("SERVICE_LABEL", labels::SERVICE);
    env
}

fn template_error(name: &str, e: minijinja::Error) -> RenderError {
    RenderError::Template(format!("template {name}: {e:#}"))
}

impl Templates {
    /// The embedded set (compiled once per process).
    pub fn embedded() -> &'static Templates {
        static T: OnceLock<Templates> = OnceLock::new();
        T.get_or_init(|| {
            let mut env = base_env();
            for (name, src) in EMBEDDED {
                env.add_template(name, src)
                    .unwrap_or_else(|e| panic!("embedded template {name} is broken: {e:#}"));
            }
            Templates { env }
        })
    }

    /// The embedded set with every `*.yaml` file of `dir` replacing the template of the same
    /// name. Unknown names are refused, so that a typo does not silently fall back.
    pub fn with_overrides(dir: &Path) -> Result<Templates, RenderError> {
        let mut env = base_env();
        let mut sources: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let rd = std::fs::read_dir(dir).map_err(|e| {
            RenderError::Template(format!("cannot read templates dir {}: {e}", dir.display()))
        })?;
        for ent in rd {
            let ent = ent.map_err(|e| RenderError::Template(e.to_string()))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".yaml") {
                continue;
            }
            let Some(slot) = sources.iter_mut().find(|(n, _)| *n == name) else {
                return Err(RenderError::Template(format!(
                    "{}: '{name}' is not a known template (known: {})",
                    dir.display(),
                    EMBEDDED
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            // Like every input file: a regular file (a FIFO would block), of bounded size.
            let bytes = crate::model::check::read_limited(&ent.path())
                .map_err(|e| RenderError::Template(e.to_string()))?;
            slot.1 = String::from_utf8(bytes).map_err(|_| {
                RenderError::Template(format!("{}: not UTF-8 text", ent.path().display()))
            })?;
        }
        for (name, src) in sources {
            let n = name.clone();
            env.add_template_owned(name, src)
                .map_err(|e| template_error(&n, e))?;
        }
        Ok(Templates { env })
    }

    /// Render one template with `ctx`; the result always ends with exactly one newline.
    pub fn render(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, e))?;
        let mut s = t.render(ctx).map_err(|e| template_error(name, e))?;
        let trimmed = s.trim_end_matches(['\n', '\r', ' ']).len();
        s.truncate(trimmed);
        s.push('\n');
        Ok(s)
    }
}
