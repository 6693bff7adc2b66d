//! Reading YAML back: an exact fast path for the block-style YAML that lane's templates emit,
//! and the full YAML parser (`serde_saphyr`) for everything else.
//!
//! `render` parses every file it writes back (thousands for a large lane), and a general YAML
//! parser through serde spends most of the render's time there. The templates only produce
//! block mappings and sequences whose scalars are either plain words from the template text
//! or JSON literals (auto-escaping), so [`fast`] reads exactly that subset and answers `None`
//! for anything else: anchors, tags, block scalars, single quotes, multi-line or ambiguous
//! plain scalars (`yes`, `0755`, `1e3`), tabs, control characters, several documents,
//! duplicate keys. Whatever it accepts it reads with the YAML 1.2 meaning, which the
//! differential tests check against `serde_saphyr` on the rendered trees and on generated
//! documents; whatever it declines goes to `serde_saphyr`, so errors and edge cases keep the
//! full parser's behaviour.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

/// Every document of `text`, as JSON values.
pub fn from_multiple(text: &str) -> Result<Vec<Value>, serde_saphyr::Error> {
    match fast(text) {
        Some(v) => Ok(vec![v]),
        None => serde_saphyr::from_multiple(text),
    }
}

/// A parsed YAML node that borrows its strings from the text where it can (most keys and
/// values need no unescaping), so reading thousands of files back allocates little.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    /// Entries in document order; keys are unique.
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node at a path of mapping keys.
    pub fn at(&self, keys: &[&str]) -> Option<&Node<'a>> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }

    pub fn is_map(&self) -> bool {
        matches!(self, Node::Map(_))
    }

    /// The same node as a JSON value.
    pub fn into_value(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Number(n) => Value::Number(n),
            Node::Str(s) => Value::String(s.into_owned()),
            Node::Seq(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// A JSON value as a node (owning its strings).
    pub fn from_value(v: Value) -> Node<'static> {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(b),
            Value::Number(n) => Node::Number(n),
            Value::String(s) => Node::Str(Cow::Owned(s)),
            Value::Array(items) => Node::Seq(items.into_iter().map(Node::from_value).collect()),
            Value::Object(m) => Node::Map(
                m.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Node::from_value(v)))
                    .collect(),
            ),
        }
    }
}

/// The single document of `text` when it lies inside the fast subset, else `None`.
pub fn fast(text: &str) -> Option<Value> {
    fast_node(text).map(Node::into_value)
}

/// Every document of `text` as nodes: the fast subset borrowed, anything else through the
/// full parser.
pub fn nodes(text: &str) -> Result<Vec<Node<'_>>, serde_saphyr::Error> {
    match fast_node(text) {
        Some(n) => Ok(vec![n]),
        None => Ok(serde_saphyr::from_multiple::<Value>(text)?
            .into_iter()
            .map(Node::from_value)
            .collect()),
    }
}

/// One line: indentation (spaces) and the content after it (no trailing spaces).
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// The single document of `text` when it lies inside the subset, else `None`.
pub fn fast_node(text: &str) -> Option<Node<'_>> {
    let mut lines = Vec::with_capacity(text.len() / 24);
    let b = text.as_bytes();
    let (mut start, mut non_ascii) = (0, false);
    // One pass: split lines, refuse control characters, note non-ASCII text.
    for i in 0..=b.len() {
        let c = b.get(i).copied().unwrap_or(b'\n');
        if c != b'\n' {
            if c < 0x20 || c == 0x7f {
                return None;
            }
            non_ascii |= c >= 0x80;
            continue;
        }
        let body = text[start..i].trim_end_matches(' ');
        start = i + 1;
        let content = body.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = body.len() - content.len();
        if (indent == 0 && (content.starts_with("---") || content.starts_with("...")))
            || content.starts_with('%')
        {
            return None;
        }
        lines.push(Line {
            indent,
            text: content,
        });
    }
    if non_ascii && !clean_unicode(text) {
        return None;
    }
    let first = *lines.first()?;
    if first.indent != 0 {
        return None;
    }
    let mut p = Parser { lines, pos: 0 };
    let v = p.block(0)?;
    (p.pos == p.lines.len()).then_some(v)
}

/// No character whose YAML meaning differs from its JSON one: BOM, NEL, line and paragraph
/// separators, C1 controls, non-characters.
fn clean_unicode(text: &str) -> bool {
    !text.chars().any(|c| {
        matches!(
            c,
            '\u{80}'..='\u{9f}' | '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
        )
    })
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.pos).copied()
    }

    /// The node whose first line is the current one, at exactly `indent`.
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        let l = self.peek()?;
        if l.indent != indent {
            return None;
        }
        if is_item(l.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    fn sequence(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = Vec::new();
        while let Some(l) = self.peek() {
            // A line back at the column that is not an item ends a sequence that is the
            // value of a `key:` at the same column.
            if l.indent < indent || (l.indent == indent && !is_item(l.text)) {
                break;
            }
            if l.indent > indent {
                return None;
            }
            let rest = l.text[1..].trim_start_matches(' ');
            if rest.is_empty() {
                // `-` alone: the item is the deeper block below, or null.
                self.pos += 1;
                match self.peek() {
                    Some(n) if n.indent > indent => items.push(self.block(n.indent)?),
                    _ => items.push(Node::Null),
                }
                continue;
            }
            // `- content`: the content is a node starting at its own column (a compact
            // mapping continues on the following lines at that column).
            let col = indent + (l.text.len() - rest.len());
            self.lines[self.pos] = Line {
                indent: col,
                text: rest,
            };
            if is_item(rest) || split_key(rest).is_some() {
                items.push(self.block(col)?);
            } else {
                items.push(scalar(rest)?);
                self.pos += 1;
                if matches!(self.peek(), Some(n) if n.indent > indent) {
                    return None; // a multi-line plain scalar or a stray line
                }
            }
        }
        Some(Node::Seq(items))
    }

    fn mapping(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut entries: Vec<(Cow<'a, str>, Node<'a>)> = Vec::new();
        while let Some(l) = self.peek() {
            if l.indent < indent {
                break;
            }
            if l.indent > indent || is_item(l.text) {
                return None;
            }
            let (key, rest) = split_key(l.text)?;
            self.pos += 1;
            let value = if rest.is_empty() {
                match self.peek() {
                    Some(n) if n.indent > indent => self.block(n.indent)?,
                    // `key:` followed by `- item` at the same column: a block sequence.
                    Some(n) if n.indent == indent && is_item(n.text) => self.sequence(indent)?,
                    _ => Node::Null,
                }
            } else {
                let v = scalar(rest)?;
                if matches!(self.peek(), Some(n) if n.indent > indent) {
                    return None;
                }
                v
            };
            entries.push((key, value));
        }
        // A duplicate key: the full parser reports it.
        let unique = if entries.len() <= 16 {
            (1..entries.len()).all(|i| entries[..i].iter().all(|(k, _)| *k != entries[i].0))
        } else {
            let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
            keys.sort_unstable();
            keys.windows(2).all(|w| w[0] != w[1])
        };
        unique.then_some(Node::Map(entries))
    }
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// `key: rest` or `key:` with a plain or double-quoted key. The rest has no leading spaces.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, after) = if text.starts_with('"') {
        let end = quoted_end(text)?;
        (json_string(&text[..=end])?, &text[end + 1..])
    } else {
        let colon = text.bytes().position(|c| c == b':')?;
        let key = &text[..colon];
        if !plain_word(key) {
            return None;
        }
        (Cow::Borrowed(key), &text[colon..])
    };
    let after = after.strip_prefix(':')?;
    if after.is_empty() {
        return Some((key, ""));
    }
    let rest = after.strip_prefix(' ')?.trim_start_matches(' ');
    if rest.starts_with('#') {
        return Some((key, ""));
    }
    Some((key, rest))
}

/// The value of an inline scalar or flow collection, or `None` outside the subset.
fn scalar(text: &str) -> Option<Node<'_>> {
    match text.as_bytes()[0] {
        b'"' => {
            let end = quoted_end(text)?;
            trailing_ok(&text[end + 1..]).then_some(())?;
            Some(Node::Str(json_string(&text[..=end])?))
        }
        b'[' | b'{' => {
            // A JSON array or object is a YAML flow collection with the same meaning.
            let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            let v = stream.next()?.ok()?;
            let used = stream.byte_offset();
            trailing_ok(&text[used..]).then_some(())?;
            flow_ok(&v).then(|| Node::from_value(v))
        }
        _ => plain(text),
    }
}

/// After a quoted scalar or flow collection: nothing, or spaces and a comment.
fn trailing_ok(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

/// Flow collections are read only when their meaning cannot differ: integers (floats and huge
/// integers have parser-specific representations) and no non-empty mapping (JSON drops a
/// duplicate key silently where YAML refuses it).
fn flow_ok(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::Array(a) => a.iter().all(flow_ok),
        Value::Object(m) => m.is_empty(),
        _ => true,
    }
}

/// Index of the closing quote of the double-quoted string that starts `text`.
fn quoted_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A JSON string literal (quotes included) decoded; YAML 1.2 double-quoted scalars read JSON
/// escapes the same way.
fn json_string(lit: &str) -> Option<Cow<'_, str>> {
    let inner = &lit[1..lit.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(lit).ok().map(Cow::Owned)
}

/// A plain scalar: an integer, `true`/`false`/`null`, or a word that no YAML schema reads as
/// anything but a string.
fn plain(text: &str) -> Option<Node<'_>> {
    match text {
        "true" => return Some(Node::Bool(true)),
        "false" => return Some(Node::Bool(false)),
        "null" => return Some(Node::Null),
        _ => {}
    }
    let b = text.as_bytes();
    if b[0].is_ascii_digit() || b[0] == b'-' {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let canonical = !digits.is_empty()
            && digits.len() <= 18
            && digits.bytes().all(|c| c.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        return canonical
            .then(|| Node::Number(text.parse::<i64>().expect("checked digits").into()));
    }
    plain_word(text).then_some(Node::Str(Cow::Borrowed(text)))
}

/// Words read as strings by every YAML schema: a letter, `_` or `/` first, then letters,
/// digits and `_ . / -`; never one of the YAML 1.1 boolean or null words.
fn plain_word(text: &str) -> bool {
    let b = text.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'/') {
        return false;
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
    {
        return false;
    }
    const RESERVED: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    !RESERVED.iter().any(|w| text.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Block YAML in the templates' style: plain words where they read as strings, JSON
    /// literals otherwise, compact mappings in sequences, flow collections for some arrays.
    fn emit(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, item) in m {
                    out.push_str(&pad);
                    out.push_str(&if plain_word(k) {
                        k.clone()
                    } else {
                        json!(k).to_string()
                    });
                    out.push(':');
                    emit_value(item, indent, false, out);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for item in a {
                    out.push_str(&pad);
                    out.push('-');
                    match item {
                        Value::Object(m) if !m.is_empty() => {
                            // compact: the first key on the dash line
                            let mut inner = String::new();
                            emit(item, indent + 2, &mut inner);
                            out.push(' ');
                            out.push_str(&inner[indent + 2..]);
                        }
                        _ => emit_value(item, indent, true, out),
                    }
                }
            }
            _ => unreachable!(),
        }
    }

    fn emit_value(v: &Value, indent: usize, in_seq: bool, out: &mut String) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                emit(v, indent + 2, out);
            }
            Value::Array(a)
                if !a.is_empty() && a.iter().all(|x| x.is_string()) && a.len() % 2 == 0 =>
            {
                out.push(' ');
                out.push_str(&v.to_string());
                out.push('\n');
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                let same_column = !in_seq && a.len() % 3 == 0;
                emit(v, indent + if same_column { 0 } else { 2 }, out);
            }
            Value::String(s) if plain_word(s) => {
                out.push(' ');
                out.push_str(s);
                out.push('\n');
            }
            other => {
                out.push(' ');
                out.push_str(&other.to_string());
                out.push('\n');
            }
        }
    }

    fn doc() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Value::String),
            "[a-zA-Z/_][a-zA-Z0-9_./-]{0,12}".prop_map(Value::String),
            "[ -~]{0,16}".prop_map(Value::String),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            Just(json!([])),
            Just(json!({})),
        ];
        let tree = leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    "[a-z][a-zA-Z0-9.-]{0,8}|[ -~]{1,8}|\\PC{1,6}",
                    inner,
                    1..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z][a-zA-Z]{0,8}", tree, 1..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    #[test]
    fn accepted_documents_read_as_the_full_parser_reads_them() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::{Config, TestRunner};
        let mut runner = TestRunner::new(Config::default());
        let strategy = doc();
        let (mut accepted, total) = (0, 600);
        for _ in 0..total {
            let v = strategy.new_tree(&mut runner).unwrap().current();
            let mut text = String::new();
            emit(&v, 0, &mut text);
            let full: Result<Vec<Value>, _> = serde_saphyr::from_multiple(&text);
            if let Some(f) = fast(&text) {
                accepted += 1;
                let full =
                    full.unwrap_or_else(|e| panic!("fast read what saphyr refuses: {e}\n{text}"));
                assert_eq!(full, vec![f.clone()], "\n{text}");
                assert_eq!(f, v, "\n{text}");
            }
        }
        eprintln!("fast path read {accepted} of {total} generated documents");
        // The check is only worth something if the fast path takes most documents.
        assert!(
            accepted * 2 > total,
            "fast path took only {accepted} of {total}"
        );
    }

    fn both(text: &str) -> Value {
        let fast = fast(text).unwrap_or_else(|| panic!("declined:\n{text}"));
        let full: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
        assert_eq!(full, vec![fast.clone()], "\n{text}");
        fast
    }

    #[test]
    fn reads_the_template_shapes() {
        let v = both(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"a\"\n  labels:\n    \"lane.dev/x\": \"y: #z\"\nspec:\n  replicas: 2\n  paused: false\n  template:\n    spec:\n      containers:\n      - name: \"c\"\n        args: [\"a\", \"b\"]\n        env:\n          - name: A\n            value: \"\\n{{x}}\\u00e9\"\n        resources: {}\n      volumes: []\n      x:\n      -\n        a: 1\n      - - 1\n        - 2\n      - \n",
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["a", "b"])
        );
        assert_eq!(v["metadata"]["labels"]["lane.dev/x"], "y: #z");
    }

    #[test]
    fn declines_what_it_does_not_read_exactly() {
        for text in [
            "a: yes\n",
            "a: 0755\n",
            "a: 1e3\n",
            "a: 1.5\n",
            "a: 'q'\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  x\n",
            "a: b c\n",
            "a: 1\na: 2\n",
            "---\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "a:\tb\n",
            "a: \"x\"\n  b: 1\n",
            "a: ~\n",
            "? a\n: b\n",
            "a: [1.5]\n",
            "a: {\"b\": 1, \"b\": 2}\n",
            "a: \"\u{2028}\"\n",
            "a: plain\n  continued\n",
            "",
            "# only a comment\n",
        ] {
            assert!(fast(text).is_none(), "should decline:\n{text}");
        }
    }
}
