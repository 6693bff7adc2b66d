//! `--output text`: the lane header, one aligned row per service, the reasons of everything
//! unknown, and the last releases; every line at most [`WIDTH`] columns. Values come from
//! git and API answers, so control characters are replaced before they reach a terminal.

use std::collections::BTreeMap;

use super::model::*;

pub const WIDTH: usize = 100;

/// Printable: control characters (an escape sequence in a hostile value) become `?`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `s` in at most `w` columns (cut with `…`).
fn fit(s: &str, w: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= w {
        s
    } else if w == 0 {
        String::new()
    } else {
        let mut c: String = s.chars().take(w - 1).collect();
        c.push('…');
        c
    }
}

/// A commit in a table cell: 7 characters, as `git log --oneline`.
fn abbrev(s: &str) -> String {
    s.chars().take(7).collect()
}

/// `text` wrapped at spaces to [`WIDTH`], continuation lines indented by `indent`.
fn wrap(out: &mut String, text: &str, indent: usize) {
    let text = clean(text);
    let mut rest: &str = &text;
    let mut first = true;
    while !rest.is_empty() {
        let pad = if first { 0 } else { indent };
        let avail = WIDTH - pad;
        out.push_str(&" ".repeat(pad));
        if rest.chars().count() <= avail {
            out.push_str(rest.trim_end());
            out.push('\n');
            break;
        }
        let cut = rest
            .char_indices()
            .nth(avail)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let at = rest[..cut].rfind(' ').filter(|&i| i > 0).unwrap_or(cut);
        out.push_str(rest[..at].trim_end());
        out.push('\n');
        rest = rest[at..].trim_start();
        first = false;
    }
}

fn known<T>(k: &Known<T>, f: impl Fn(&T) -> String) -> String {
    match k {
        Known::Yes(v) => f(v),
        Known::Unknown { unknown } => format!("unknown ({unknown})"),
    }
}

pub fn header_lines(r: &StatusReport) -> Vec<(String, String)> {
    vec![
        (
            "source".into(),
            known(&r.source, |t| {
                format!("{} at {} ({})", t.branch, short(&t.commit), t.git_ref)
            }),
        ),
        (
            "gitops".into(),
            known(&r.gitops, |g| {
                let mut s = format!("{} at {}", g.branch, short(&g.commit));
                match &g.catalog_source_commit {
                    Known::Yes(c) => s.push_str(&format!(", catalog of source {}", short(c))),
                    Known::Unknown { unknown } => {
                        s.push_str(&format!(", catalog unknown ({unknown})"))
                    }
                }
                match g.source_released {
                    Some(true) => s.push_str(" (the source tip)"),
                    Some(false) => s.push_str(" (the source tip is newer)"),
                    None => {}
                }
                if let Some(r) = &g.rollback {
                    s.push_str(&format!(
                        "; rolled back to {} by {} at {}",
                        short(&r.restores.gitops_commit),
                        r.requested_by,
                        r.at
                    ));
                }
                s
            }),
        ),
        (
            "argo".into(),
            known(&r.argo, |a| {
                let mut s = format!(
                    "{}: {}, {} at {}",
                    a.application,
                    or(&a.sync_status),
                    or(&a.health),
                    or(&short(&a.sync_revision))
                );
                s.push_str(match a.at_gitops_tip {
                    Some(true) => " (the GitOps tip)",
                    Some(false) => " (not the GitOps tip)",
                    None => "",
                });
                if let Some(p) = &a.operation_phase {
                    if p != "Succeeded" {
                        s.push_str(&format!(", last sync {p}"));
                    }
                }
                if !a.not_ready.is_empty() {
                    s.push_str(&format!("; not ready: {}", a.not_ready.join("; ")));
                }
                s
            }),
        ),
        (
            "pipeline".into(),
            known(&r.pipeline_run, |p| match p {
                None => format!("no PipelineRun of {} yet", r.names.pipeline),
                Some(p) => {
                    let mut s = format!("{}: {}", p.name, p.outcome);
                    if !p.reason.is_empty() {
                        s.push_str(&format!(" ({})", p.reason));
                    }
                    if let Some(c) = &p.commit {
                        s.push_str(&format!(" for {}", short(c)));
                    }
                    if let Some(t) = p.completion_time.as_ref().or(p.start_time.as_ref()) {
                        s.push_str(&format!(", {t}"));
                    }
                    s
                }
            }),
        ),
    ]
}

fn or(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// The table's cells for one service.
fn cells(s: &ServiceView) -> [String; 8] {
    let cat = s.catalog.get();
    let entry = match cat {
        Some(c) => match &c.reused_from {
            Some(f) => format!("{}:{}", c.status, abbrev(f)),
            None => c.status.clone(),
        },
        None => "unknown".into(),
    };
    let gitops = match s.gitops.get() {
        Some(g) => match (&g.since, g.since_complete) {
            (Some(c), true) => abbrev(c),
            (Some(c), false) => format!("≤{}", abbrev(c)),
            (None, _) => abbrev(&g.commit),
        },
        None => "unknown".into(),
    };
    let argo = match s.argo.get() {
        Some(a) if a.health.is_empty() => a.sync_status.clone(),
        Some(a) => format!("{}/{}", or(&a.sync_status), a.health),
        None => "unknown".into(),
    };
    let live = match s.live.get() {
        None => "unknown".into(),
        Some(l) => {
            let mut parts = Vec::new();
            if let Some(p) = l.runner_pins_catalog {
                parts.push(if p { "runner pinned" } else { "runner differs" }.to_string());
            }
            // `≠catalog`: a container runs another digest (the notes say which).
            let ready = if l.runs_catalog_digest {
                "ready"
            } else {
                "≠catalog"
            };
            match l.replicas {
                Some(want) => parts.push(format!("{}/{want} {ready}", l.ready_pods)),
                None if l.runner_pins_catalog.is_none() => {
                    parts.push(format!("{} pod(s) {ready}", l.ready_pods))
                }
                None if !l.runs_catalog_digest => parts.push(ready.into()),
                None => {}
            }
            if l.health_ok == Some(false) {
                parts.push("unhealthy".into());
            }
            if l.stuck && parts.len() < 2 {
                parts.push("stuck".into());
            }
            parts.join(", ")
        }
    };
    [
        s.id.clone(),
        s.state.as_str().to_string(),
        cat.map(|c| abbrev(&c.source_commit))
            .unwrap_or("unknown".into()),
        entry,
        cat.map(|c| short_digest(&c.digest).chars().take(8).collect())
            .unwrap_or("unknown".into()),
        gitops,
        argo,
        live,
    ]
}

const HEADS: [&str; 8] = [
    "SERVICE", "STATE", "SOURCE", "ENTRY", "DIGEST", "GITOPS", "ARGO", "LIVE",
];
/// Columns that give way when the table is too wide, in this order: ENTRY, LIVE, ARGO, and
/// SERVICE last (commits, digests and states keep their width).
const SHRINK: [usize; 4] = [3, 7, 6, 0];
const MIN: usize = 9;

pub fn table(services: &[ServiceView]) -> Vec<String> {
    let rows: Vec<[String; 8]> = services.iter().map(cells).collect();
    let mut w: Vec<usize> = HEADS.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(clean(c).chars().count());
        }
    }
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * (w.len() - 1);
    while total(&w) > WIDTH {
        let Some(&i) = SHRINK.iter().find(|&&i| w[i] > MIN) else {
            break;
        };
        w[i] -= 1;
    }
    let line = |cols: &[String]| {
        let mut s = String::new();
        for (i, c) in cols.iter().enumerate() {
            let cell = fit(c, w[i]);
            if i + 1 == cols.len() {
                s.push_str(&cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = w[i]));
            }
        }
        fit(s.trim_end(), WIDTH)
    };
    let mut out = vec![line(&HEADS.map(String::from))];
    out.extend(rows.iter().map(|r| line(r)));
    out
}

pub fn render(r: &StatusReport) -> String {
    let mut out = String::new();
    wrap(
        &mut out,
        &format!(
            "lane {} (namespace {}), observed {}",
            r.lane, r.names.namespace, r.observed_at
        ),
        2,
    );
    wrap(
        &mut out,
        &format!(
            "services  {} current, {} progressing, {} degraded, {} unknown",
            r.summary.current, r.summary.progressing, r.summary.degraded, r.summary.unknown
        ),
        10,
    );
    for (k, v) in header_lines(r) {
        wrap(&mut out, &format!("{k:<9} {v}"), 10);
    }
    out.push('\n');
    for l in table(&r.services) {
        out.push_str(&l);
        out.push('\n');
    }
    // Reasons once each, with everything they apply to.
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    for s in &r.services {
        for (link, reason) in [
            ("catalog", s.catalog.reason()),
            ("gitops", s.gitops.reason()),
            ("argo", s.argo.reason()),
            ("live", s.live.reason()),
        ] {
            if let Some(reason) = reason {
                reasons
                    .entry(reason.to_string())
                    .or_default()
                    .push(format!("{} {link}", s.id));
            }
        }
        if let Some(r) = s.catalog.get().and_then(|c| c.rollback.as_ref()) {
            notes.push(format!(
                "{}: rolled back from {} to the release of {} (source {}) by {} at {}{}",
                s.id,
                short_digest(r.from.digest.as_str()),
                short(&r.restores.gitops_commit),
                short(&r.restores.source_commit),
                r.requested_by,
                r.at,
                r.reason
                    .as_deref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            ));
        }
        if let Some(l) = s.live.get() {
            notes.extend(l.problems.iter().map(|p| format!("{}: {p}", s.id)));
        }
    }
    if !reasons.is_empty() || !notes.is_empty() {
        out.push('\n');
        for (reason, what) in &reasons {
            wrap(
                &mut out,
                &format!("unknown  {}: {reason}", what.join(", ")),
                9,
            );
        }
        notes.dedup();
        for n in notes.iter().take(20) {
            wrap(&mut out, &format!("note     {n}"), 9);
        }
    }
    out.push('\n');
    match &r.releases {
        Known::Unknown { unknown } => wrap(&mut out, &format!("releases unknown ({unknown})"), 9),
        Known::Yes(list) if list.is_empty() => out.push_str("releases: none yet\n"),
        Known::Yes(list) => {
            out.push_str("last releases (GitOps commits that changed the catalog):\n");
            for rel in list.iter().take(5) {
                let changes: Vec<String> = rel
                    .changes
                    .iter()
                    .map(|c| match &c.digest {
                        Some(d) => format!(
                            "{} {} {}",
                            c.service,
                            c.status,
                            short_digest(d).chars().take(8).collect::<String>()
                        ),
                        None => format!("{} {}", c.service, c.status),
                    })
                    .collect();
                let line = format!(
                    "  {}  {}  source {}  {}",
                    abbrev(&rel.gitops_commit),
                    rel.committed_at,
                    rel.source_commit
                        .as_deref()
                        .map(abbrev)
                        .unwrap_or("?".into()),
                    if changes.is_empty() {
                        "no entry changed".to_string()
                    } else {
                        changes.join(", ")
                    }
                );
                wrap(&mut out, &line, 4);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_and_cleaned() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("a\x1b[31mb", 20), "a?[31mb");
        let mut s = String::new();
        wrap(&mut s, &"word ".repeat(60), 4);
        assert!(s.lines().all(|l| l.chars().count() <= WIDTH), "{s}");
        assert!(s.lines().count() > 1);
    }
}
