//! A small line diff (Myers, O((N+M)·D)) and unified-diff output for `render --no-write
//! --diff`. Rendered files are short and change little, so D stays small.

/// One line of an edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// The shortest edit script turning `a` into `b`.
pub fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    // Common prefix and suffix first: most renders change a few lines in the middle.
    let mut pre = 0;
    while pre < a.len() && pre < b.len() && a[pre] == b[pre] {
        pre += 1;
    }
    let mut suf = 0;
    while suf < a.len() - pre && suf < b.len() - pre && a[a.len() - 1 - suf] == b[b.len() - 1 - suf]
    {
        suf += 1;
    }
    let mut ops: Vec<Op> = (0..pre).map(|i| Op::Equal(i, i)).collect();
    let mid = myers(&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    ops.extend(mid.into_iter().map(|op| match op {
        Op::Equal(i, j) => Op::Equal(i + pre, j + pre),
        Op::Delete(i) => Op::Delete(i + pre),
        Op::Insert(j) => Op::Insert(j + pre),
    }));
    ops.extend((0..suf).map(|k| Op::Equal(a.len() - suf + k, b.len() - suf + k)));
    ops
}

fn myers(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    if max == 0 {
        return Vec::new();
    }
    let off = max as isize;
    let mut v = vec![0isize; 2 * max + 2];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    'outer: for d in 0..=max as isize {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let idx = (k + off) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                trace.push(v.clone());
                break 'outer;
            }
            k += 2;
        }
    }
    // Walk back through the saved frontiers.
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..trace.len() - 1).rev() {
        let v = &trace[d];
        let d = d as isize;
        let k = x - y;
        let prev_k = if k == -d || (k != d && v[(k - 1 + off) as usize] < v[(k + 1 + off) as usize])
        {
            k + 1
        } else {
            k - 1
        };
        let prev_x = v[(prev_k + off) as usize];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            ops.push(Op::Equal(x as usize, y as usize));
        }
        if x == prev_x {
            y -= 1;
            ops.push(Op::Insert(y as usize));
        } else {
            x -= 1;
            ops.push(Op::Delete(x as usize));
        }
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        ops.push(Op::Equal(x as usize, y as usize));
    }
    ops.reverse();
    ops
}

/// A unified diff of `old` → `new` (`None` = the file does not exist), 3 lines of context.
pub fn unified(path: &str, old: Option<&str>, new: Option<&str>) -> String {
    const CONTEXT: usize = 3;
    let a: Vec<&str> = old.map(|s| s.lines().collect()).unwrap_or_default();
    let b: Vec<&str> = new.map(|s| s.lines().collect()).unwrap_or_default();
    let ops = diff_lines(&a, &b);
    if ops.iter().all(|o| matches!(o, Op::Equal(..))) {
        return String::new();
    }
    let mut out = String::new();
    out.push_str(&match old {
        Some(_) => format!("--- a/{path}\n"),
        None => "--- /dev/null\n".to_string(),
    });
    out.push_str(&match new {
        Some(_) => format!("+++ b/{path}\n"),
        None => "+++ /dev/null\n".to_string(),
    });
    // Group changes into hunks with CONTEXT lines around them.
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Equal(..)))
        .map(|(i, _)| i)
        .collect();
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let start = i.saturating_sub(CONTEXT);
        let end = (i + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some(h) if start <= h.1 => h.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    for (s, e) in hunks {
        let slice = &ops[s..e];
        let (mut a_start, mut b_start) = position(&ops[..s]);
        let a_len = slice.iter().filter(|o| !matches!(o, Op::Insert(_))).count();
        let b_len = slice.iter().filter(|o| !matches!(o, Op::Delete(_))).count();
        // Unified format: an empty range starts at the line before.
        if a_len > 0 {
            a_start += 1;
        }
        if b_len > 0 {
            b_start += 1;
        }
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(a_start, a_len),
            range(b_start, b_len)
        ));
        for op in slice {
            match *op {
                Op::Equal(i, _) => {
                    out.push(' ');
                    out.push_str(a[i]);
                }
                Op::Delete(i) => {
                    out.push('-');
                    out.push_str(a[i]);
                }
                Op::Insert(j) => {
                    out.push('+');
                    out.push_str(b[j]);
                }
            }
            out.push('\n');
        }
    }
    out
}

fn range(start: usize, len: usize) -> String {
    if len == 1 {
        start.to_string()
    } else {
        format!("{start},{len}")
    }
}

/// Lines of `a` and `b` consumed by `ops`.
fn position(ops: &[Op]) -> (usize, usize) {
    let a = ops.iter().filter(|o| !matches!(o, Op::Insert(_))).count();
    let b = ops.iter().filter(|o| !matches!(o, Op::Delete(_))).count();
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(a: &[&str], b: &[&str], ops: &[Op]) -> Vec<String> {
        let mut out = Vec::new();
        for op in ops {
            match *op {
                Op::Equal(i, j) => {
                    assert_eq!(a[i], b[j]);
                    out.push(a[i].to_string());
                }
                Op::Insert(j) => out.push(b[j].to_string()),
                Op::Delete(_) => {}
            }
        }
        out
    }

    #[test]
    fn edit_scripts_rebuild_the_target() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("a\nb\nc", "a\nb\nc"),
            ("a\nb\nc", "a\nx\nc"),
            ("", "a\nb"),
            ("a\nb", ""),
            ("a\nb\nc\nd\ne\nf", "x\nb\nc\ny\ne\nz\nf"),
            ("1\n2\n3\n4\n5\n6\n7\n8\n9", "1\n2\n4\n5\n6\n7\nx\n8\n9\n10"),
        ];
        for (x, y) in cases {
            let a: Vec<&str> = x.lines().collect();
            let b: Vec<&str> = y.lines().collect();
            let ops = diff_lines(&a, &b);
            assert_eq!(apply(&a, &b, &ops), b, "{x:?} -> {y:?}");
            // Deleted lines are exactly the ones not kept.
            let kept = ops.iter().filter(|o| matches!(o, Op::Equal(..))).count();
            let dels = ops.iter().filter(|o| matches!(o, Op::Delete(_))).count();
            assert_eq!(kept + dels, a.len());
        }
    }

    #[test]
    fn minimal_for_a_single_change() {
        let a: Vec<&str> = "a\nb\nc".lines().collect();
        let b: Vec<&str> = "a\nx\nc".lines().collect();
        let ops = diff_lines(&a, &b);
        assert_eq!(
            ops.iter().filter(|o| !matches!(o, Op::Equal(..))).count(),
            2
        );
    }

    #[test]
    fn unified_format() {
        let d = unified("f.yaml", Some("a\nb\nc\n"), Some("a\nx\nc\n"));
        assert_eq!(
            d,
            "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,3 +1,3 @@\n a\n-b\n+x\n c\n"
        );
        let d = unified("n.yaml", None, Some("a\n"));
        assert_eq!(d, "--- /dev/null\n+++ b/n.yaml\n@@ -0,0 +1 @@\n+a\n");
        let d = unified("r.yaml", Some("a\nb\n"), None);
        assert_eq!(d, "--- a/r.yaml\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n");
        assert_eq!(unified("s.yaml", Some("a\n"), Some("a\n")), "");
    }

    #[test]
    fn far_apart_changes_make_two_hunks() {
        let line = |i: usize| match i {
            2 => "two\n".to_string(),
            19 => "nineteen\n".to_string(),
            _ => format!("{i}\n"),
        };
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20).map(line).collect();
        let d = unified("f", Some(&old), Some(&new));
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
    }
}
