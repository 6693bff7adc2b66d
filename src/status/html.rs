//! `--output html FILE`: one self-contained page (inline CSS; no script, font, image or link
//! to anything else). Every value is escaped, after URL credentials are redacted: branch
//! names, messages and API answers are untrusted.

use std::fmt::Write as _;
use std::time::Duration;

use super::model::*;

/// Text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let s = crate::redact::redact_url_userinfo(s);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
:root{--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--unk:#6e7781;--bg:#f6f8fa;--line:#d0d7de}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
main{max-width:1200px;margin:0 auto;padding:20px 24px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:22px 0 8px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--bg);padding:1px 4px;border-radius:4px;word-break:break-all}
small{color:var(--unk)}
.observed{color:var(--unk);margin:0 0 10px}
.summary{display:flex;gap:8px;flex-wrap:wrap}
.pill,.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:12px}
.state-current{background:var(--ok)}.state-progressing{background:var(--warn)}
.state-degraded{background:var(--bad)}.state-unknown{background:var(--unk)}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin-top:14px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg);min-width:0}
.card h3{margin:0 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--unk)}
.card.k-unknown{border-style:dashed}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-size:12px;color:var(--unk);border-bottom:1px solid var(--line);padding:6px 8px}
td{border-bottom:1px solid var(--line);padding:8px;vertical-align:top}
tr.service>td:first-child{border-left:6px solid var(--unk);font-weight:600;white-space:nowrap}
tr.service.state-current,tr.service.state-progressing,tr.service.state-degraded,tr.service.state-unknown{background:none}
tr.state-current>td:first-child{border-left-color:var(--ok)}
tr.state-progressing>td:first-child{border-left-color:var(--warn)}
tr.state-degraded>td:first-child{border-left-color:var(--bad)}
ol.chain{list-style:none;margin:0;padding:0;display:flex;gap:6px;align-items:stretch}
ol.chain li{flex:1 1 0;min-width:0;overflow-wrap:anywhere;border:1px solid var(--line);border-top:4px solid var(--unk);border-radius:6px;padding:5px 7px;font-size:12px;position:relative}
ol.chain li+li::before{content:"\2192";position:absolute;left:-11px;top:40%;color:var(--unk);font-weight:700}
ol.chain li b{display:block;font-size:11px;text-transform:uppercase;color:var(--unk)}
ol.chain li.link-ok{border-top-color:var(--ok)}ol.chain li.link-warn{border-top-color:var(--warn)}
ol.chain li.link-bad{border-top-color:var(--bad)}
ol.chain li.link-unknown{border-top-style:dashed;background:var(--bg)}
ol.chain code{white-space:nowrap;font-size:11px}
.why{margin:6px 0 0;font-size:12px;color:#57606a;overflow-wrap:anywhere}
.reason,.card{overflow-wrap:anywhere}
.releases td{font-size:12px}
footer{margin-top:22px;color:var(--unk);font-size:12px}
"#;

/// How a link of a service's chain stands: ok, warn, bad or unknown.
fn link<T>(k: &Known<T>, judge: impl Fn(&T) -> &'static str) -> &'static str {
    match k {
        Known::Yes(v) => judge(v),
        Known::Unknown { .. } => "unknown",
    }
}

fn reason_or<T>(k: &Known<T>, body: impl Fn(&T) -> String) -> String {
    match k {
        Known::Yes(v) => body(v),
        // The whole reason is in the title (and the JSON document); the box shows its start.
        Known::Unknown { unknown } => format!(
            "unknown<br><small class=\"reason\" title=\"{}\">{}</small>",
            esc(unknown),
            esc(&crate::verify::clip(unknown, 240))
        ),
    }
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn card(out: &mut String, title: &str, k: bool, body: &str) {
    let _ = write!(
        out,
        "<div class=\"card k-{}\"><h3>{}</h3>{body}</div>",
        if k { "known" } else { "unknown" },
        esc(title)
    );
}

pub fn render(r: &StatusReport, refresh: Option<Duration>) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if let Some(d) = refresh {
        let _ = writeln!(
            o,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            d.as_secs()
        );
    }
    let _ = writeln!(o, "<title>lane {} status</title>", esc(&r.lane));
    let _ = writeln!(o, "<style>{CSS}</style></head><body><main>");
    let _ = write!(
        o,
        "<h1>lane <span id=\"lane\">{}</span> <small>namespace {}</small></h1>",
        esc(&r.lane),
        esc(&r.names.namespace)
    );
    let _ = write!(
        o,
        "<p class=\"observed\">observed <time>{}</time></p>",
        esc(&r.observed_at)
    );
    o.push_str("<div class=\"summary\" id=\"summary\">");
    for (n, st) in [
        (r.summary.current, State::Current),
        (r.summary.progressing, State::Progressing),
        (r.summary.degraded, State::Degraded),
        (r.summary.unknown, State::Unknown),
    ] {
        let _ = write!(
            o,
            "<span class=\"pill state-{0}\" data-state=\"{0}\">{n} {0}</span>",
            st.as_str()
        );
    }
    o.push_str("</div>\n<section class=\"cards\" id=\"header\">");
    header(&mut o, r);
    o.push_str("</section>\n<h2>Services</h2>\n");
    services(&mut o, r);
    o.push_str("<h2>Last releases</h2>\n");
    releases(&mut o, r);
    let _ = write!(
        o,
        "<footer>Argo CD Application <code>{}</code> · Pipeline <code>{}</code> · catalog <code>{}</code>{}</footer>",
        esc(&r.names.argo_application),
        esc(&r.names.pipeline),
        esc(&r.names.catalog_path),
        match &r.names.api_server {
            Some(s) => format!(" · API <code>{}</code>", esc(s)),
            None => String::new(),
        }
    );
    o.push_str("\n</main></body></html>\n");
    o
}

fn header(o: &mut String, r: &StatusReport) {
    card(
        o,
        "Source branch",
        r.source.get().is_some(),
        &reason_or(&r.source, |t| {
            format!(
                "{} at {}<br><small>{}</small>",
                esc(&t.branch),
                code(&short(&t.commit)),
                esc(&t.git_ref)
            )
        }),
    );
    card(
        o,
        "GitOps branch",
        r.gitops.get().is_some(),
        &reason_or(&r.gitops, |g| {
            let mut s = format!("{} at {}", esc(&g.branch), code(&short(&g.commit)));
            match &g.catalog_source_commit {
                Known::Yes(c) => {
                    let _ = write!(
                        s,
                        "<br><small>catalog of source</small> {}",
                        code(&short(c))
                    );
                }
                Known::Unknown { unknown } => {
                    let _ = write!(s, "<br><small>catalog unknown: {}</small>", esc(unknown));
                }
            }
            match g.source_released {
                Some(true) => s.push_str(" <small>(the source tip)</small>"),
                Some(false) => s.push_str(" <small>(the source tip is newer)</small>"),
                None => {}
            }
            if let Some(r) = &g.rollback {
                let _ = write!(
                    s,
                    "<br><small>rolled back to</small> {} <small>by {}</small>",
                    code(&short(&r.restores.gitops_commit)),
                    esc(&r.requested_by)
                );
            }
            s
        }),
    );
    card(
        o,
        "Argo CD",
        r.argo.get().is_some(),
        &reason_or(&r.argo, |a| {
            format!(
                "{} · {}<br>at {} <small>{}</small>{}{}",
                esc(or(&a.sync_status)),
                esc(or(&a.health)),
                code(or(&short(&a.sync_revision))),
                match a.at_gitops_tip {
                    Some(true) => "(the GitOps tip)",
                    Some(false) => "(not the GitOps tip)",
                    None => "",
                },
                match (&a.operation_phase, &a.operation_message) {
                    (Some(p), _) if p == "Succeeded" => String::new(),
                    (Some(p), Some(m)) =>
                        format!("<br><small>last sync {}: {}</small>", esc(p), esc(m)),
                    (Some(p), None) => format!("<br><small>last sync {}</small>", esc(p)),
                    _ => String::new(),
                },
                if a.not_ready.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<br><small>not ready: {}</small>",
                        a.not_ready
                            .iter()
                            .map(|x| esc(x))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            )
        }),
    );
    card(
        o,
        "Last PipelineRun",
        r.pipeline_run.get().is_some(),
        &reason_or(&r.pipeline_run, |p| match p {
            None => "none yet".to_string(),
            Some(p) => format!(
                "<span class=\"badge state-{}\">{}</span> {}<br><small>{}{}</small>",
                match p.outcome.as_str() {
                    "succeeded" => "current",
                    "failed" => "degraded",
                    _ => "progressing",
                },
                esc(&p.outcome),
                code(&p.name),
                p.commit
                    .as_deref()
                    .map(|c| format!("for {} ", esc(&short(c))))
                    .unwrap_or_default(),
                esc(p
                    .completion_time
                    .as_deref()
                    .or(p.start_time.as_deref())
                    .unwrap_or(""))
            ),
        }),
    );
}

fn or(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

fn services(o: &mut String, r: &StatusReport) {
    o.push_str("<table class=\"services\" id=\"services\"><thead><tr><th>Service</th><th>State</th><th>source → catalog → GitOps → Argo CD → live</th></tr></thead><tbody>\n");
    for s in &r.services {
        let st = s.state.as_str();
        let _ = write!(
            o,
            "<tr class=\"service state-{st}\" data-service=\"{id}\" data-state=\"{st}\"><td class=\"id\">{id}<br><small>{kind}</small></td><td><span class=\"badge state-{st}\">{st}</span></td><td><ol class=\"chain\">",
            id = esc(&s.id),
            kind = esc(&s.kind),
        );
        let chain = [
            (
                "source",
                "source",
                link(&s.catalog, |_| "ok"),
                reason_or(&s.catalog, |c| code(&short(&c.source_commit))),
            ),
            (
                "catalog",
                "catalog",
                link(&s.catalog, |c| match c.status.as_str() {
                    "published" | "reused" | "pinned" => "ok",
                    _ => "warn",
                }),
                reason_or(&s.catalog, |c| {
                    let mut t = format!("{} {}", esc(&c.status), code(&short_digest(&c.digest)));
                    if let Some(f) = &c.reused_from {
                        let _ = write!(t, "<br><small>from</small> {}", code(&short(f)));
                    }
                    if let Some(r) = &c.rollback {
                        let _ = write!(
                            t,
                            "<br><small>restores</small> {} <small>by {}</small>",
                            code(&short(&r.restores.gitops_commit)),
                            esc(&r.requested_by)
                        );
                    }
                    t
                }),
            ),
            (
                "gitops",
                "GitOps",
                link(&s.gitops, |_| "ok"),
                reason_or(&s.gitops, |g| match (&g.since, g.since_complete) {
                    (Some(c), true) if *c != g.commit => format!(
                        "{}<br><small>since</small> {}",
                        code(&short(&g.commit)),
                        code(&short(c))
                    ),
                    (Some(c), false) => format!(
                        "{}<br><small>since ≤</small> {}",
                        code(&short(&g.commit)),
                        code(&short(c))
                    ),
                    _ => code(&short(&g.commit)),
                }),
            ),
            (
                "argo",
                "Argo CD",
                match (&s.argo, r.argo.get()) {
                    (Known::Unknown { .. }, _) => "unknown",
                    (Known::Yes(a), app) => {
                        if matches!(a.health.as_str(), "Degraded" | "Missing") {
                            "bad"
                        } else if a.sync_status != "Synced"
                            || a.health == "Progressing"
                            || app.is_some_and(|x| x.at_gitops_tip == Some(false))
                        {
                            "warn"
                        } else {
                            "ok"
                        }
                    }
                },
                reason_or(&s.argo, |a| {
                    format!(
                        "{}{}<br><small>{}/{}</small>",
                        esc(or(&a.sync_status)),
                        if a.health.is_empty() {
                            String::new()
                        } else {
                            format!(" · {}", esc(&a.health))
                        },
                        esc(&a.kind),
                        esc(&a.name)
                    )
                }),
            ),
            (
                "live",
                "live",
                link(&s.live, |l| {
                    if l.stuck || l.health_ok == Some(false) {
                        "bad"
                    } else if !l.runs_catalog_digest
                        || l.runner_pins_catalog == Some(false)
                        || l.replicas
                            .is_some_and(|w| l.ready_replicas.unwrap_or(0) < w)
                    {
                        "warn"
                    } else {
                        "ok"
                    }
                }),
                reason_or(&s.live, |l| {
                    let mut t = String::new();
                    if let Some(p) = l.runner_pins_catalog {
                        t.push_str(if p {
                            "runner template pins it"
                        } else {
                            "runner template differs"
                        });
                    }
                    if let Some(w) = l.replicas {
                        let _ = write!(t, "{}/{w} ready", l.ready_pods);
                    } else if l.runner_pins_catalog.is_none() {
                        let _ = write!(t, "{} pod(s) ready", l.ready_pods);
                    }
                    for d in &l.ready_digests {
                        let _ = write!(
                            t,
                            "<br>{} <small>×{}</small>",
                            code(&short_digest(&d.digest)),
                            d.pods
                        );
                    }
                    if let Some(h) = &l.health {
                        let _ = write!(t, "<br><small>{}</small>", esc(h));
                    }
                    t
                }),
            ),
        ];
        for (key, title, class, body) in chain {
            let _ = write!(
                o,
                "<li class=\"link link-{class}\" data-link=\"{key}\"><b>{title}</b>{body}</li>"
            );
        }
        o.push_str("</ol>");
        // Unknown links carry their reason in their box; the rest is said below the chain.
        let why: Vec<&String> = s
            .why
            .iter()
            .filter(|w| !w.contains(": unknown ("))
            .collect();
        if !why.is_empty() {
            o.push_str("<p class=\"why\">");
            for (i, w) in why.iter().enumerate() {
                if i > 0 {
                    o.push_str("<br>");
                }
                o.push_str(&esc(w));
            }
            o.push_str("</p>");
        }
        o.push_str("</td></tr>\n");
    }
    o.push_str("</tbody></table>\n");
}

fn releases(o: &mut String, r: &StatusReport) {
    let list = match &r.releases {
        Known::Unknown { unknown } => {
            let _ = write!(
                o,
                "<p class=\"releases-unknown\">unknown: {}</p>",
                esc(unknown)
            );
            return;
        }
        Known::Yes(l) if l.is_empty() => {
            o.push_str("<p>none yet</p>");
            return;
        }
        Known::Yes(l) => l,
    };
    o.push_str("<table class=\"releases\" id=\"releases\"><thead><tr><th>GitOps commit</th><th>When</th><th>Source</th><th>Changes</th><th>By</th></tr></thead><tbody>\n");
    for rel in list {
        let changes: Vec<String> = rel
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{} {}{}",
                    esc(&c.service),
                    esc(&c.status),
                    c.digest
                        .as_deref()
                        .map(|d| format!(" {}", code(&short_digest(d))))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "<tr class=\"release\" data-commit=\"{}\"><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&rel.gitops_commit),
            code(&short(&rel.gitops_commit)),
            esc(&rel.subject),
            esc(&rel.committed_at),
            rel.source_commit.as_deref().map(|c| code(&short(c))).unwrap_or_default(),
            if changes.is_empty() {
                rel.catalog_problem
                    .as_deref()
                    .map(esc)
                    .unwrap_or_else(|| "no entry changed".into())
            } else {
                changes.join("<br>")
            },
            esc(&rel.author),
        );
    }
    o.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_credentials() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let e = esc("https://user:secret@example.invalid/x");
        assert!(!e.contains("secret"), "{e}");
    }
}
