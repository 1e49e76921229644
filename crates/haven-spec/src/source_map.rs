//! Where each key path of a spec stands in its file, from toml_edit's spans.

use std::collections::HashMap;
use std::ops::Range;

use toml_edit::{Item, Table, Value};

/// Key path → spans of the key and of its value, e.g. `regions[1].vpc_cidr`.
#[derive(Debug, Default)]
pub struct SourceMap {
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

impl SourceMap {
    pub fn build(root: &Table) -> Self {
        let mut map = Self::default();
        map.walk_table(root, "");
        map
    }

    /// The offset to point at for a problem with `path`: its value, else its key, else the
    /// nearest parent that is in the file.
    pub fn value_offset(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(e) = self.entries.get(path) {
                if let Some(span) = e.value.as_ref().or(e.key.as_ref()) {
                    return Some(span.start);
                }
            }
            path = parent(path)?;
        }
    }

    /// The offset of the key itself (for unknown keys).
    pub fn key_offset(&self, path: &str) -> Option<usize> {
        let e = self.entries.get(path)?;
        e.key.as_ref().or(e.value.as_ref()).map(|s| s.start)
    }

    /// The path whose key or value span is `span`, or else the innermost one containing it.
    pub fn path_at(&self, span: &Range<usize>) -> Option<&str> {
        let exact = self
            .entries
            .iter()
            .find(|(_, e)| e.key.as_ref() == Some(span) || e.value.as_ref() == Some(span));
        if let Some((path, _)) = exact {
            return Some(path);
        }
        self.entries
            .iter()
            .filter_map(|(path, e)| {
                let s = e.value.as_ref()?;
                (s.start <= span.start && span.end <= s.end).then_some((path, s.end - s.start))
            })
            .min_by_key(|(_, len)| *len)
            .map(|(path, _)| path.as_str())
    }

    fn insert(&mut self, path: String, key: Option<Range<usize>>, value: Option<Range<usize>>) {
        self.entries.insert(path, Entry { key, value });
    }

    fn walk_table(&mut self, table: &Table, prefix: &str) {
        for (key, item) in table.iter() {
            let path = join(prefix, key);
            let key_span = table.key(key).and_then(|k| k.span());
            self.insert(path.clone(), key_span, item.span());
            self.walk_item(item, &path);
        }
    }

    fn walk_item(&mut self, item: &Item, path: &str) {
        match item {
            Item::Table(t) => self.walk_table(t, path),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.insert(p.clone(), None, t.span());
                    self.walk_table(t, &p);
                }
            }
            Item::Value(v) => self.walk_value(v, path),
            Item::None => {}
        }
    }

    fn walk_value(&mut self, value: &Value, path: &str) {
        match value {
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.insert(p.clone(), None, v.span());
                    self.walk_value(v, &p);
                }
            }
            Value::InlineTable(t) => {
                for (key, v) in t.iter() {
                    let p = join(path, key);
                    let key_span = t.key(key).and_then(|k| k.span());
                    self.insert(p.clone(), key_span, v.span());
                    self.walk_value(v, &p);
                }
            }
            _ => {}
        }
    }
}

/// Appends a key to a path, quoting keys that are not bare (e.g. `tags."cost center"`).
pub fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → none.
pub fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

/// Removes the item at `path` from a table; false when there is no such item.
pub fn remove(root: &mut Table, path: &str) -> bool {
    let Some(parent_path) = parent(path) else {
        return false;
    };
    let last = &path[parent_path.len()..];
    let last = last.strip_prefix('.').unwrap_or(last);
    let Some(parent) = lookup_mut(root, parent_path) else {
        return false;
    };
    if let Some(index) = last.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let Ok(i) = index.parse::<usize>() else {
            return false;
        };
        return match parent {
            Slot::Item(Item::ArrayOfTables(a)) if i < a.len() => {
                a.remove(i);
                true
            }
            Slot::Item(Item::Value(Value::Array(a))) | Slot::Value(Value::Array(a))
                if i < a.len() =>
            {
                a.remove(i);
                true
            }
            _ => false,
        };
    }
    let key = unquote(last);
    match parent {
        Slot::Table(t) => t.remove(&key).is_some(),
        Slot::Item(Item::Table(t)) => t.remove(&key).is_some(),
        Slot::Item(Item::Value(Value::InlineTable(t))) | Slot::Value(Value::InlineTable(t)) => {
            t.remove(&key).is_some()
        }
        _ => false,
    }
}

enum Slot<'a> {
    Table(&'a mut Table),
    Item(&'a mut Item),
    Value(&'a mut Value),
}

fn lookup_mut<'a>(root: &'a mut Table, path: &str) -> Option<Slot<'a>> {
    let mut slot = Slot::Table(root);
    for segment in segments(path) {
        slot = match (slot, segment) {
            (Slot::Table(t), Segment::Key(k)) => Slot::Item(t.get_mut(&k)?),
            (Slot::Item(Item::Table(t)), Segment::Key(k)) => Slot::Item(t.get_mut(&k)?),
            (Slot::Item(Item::Value(Value::InlineTable(t))), Segment::Key(k))
            | (Slot::Value(Value::InlineTable(t)), Segment::Key(k)) => Slot::Value(t.get_mut(&k)?),
            (Slot::Item(Item::ArrayOfTables(a)), Segment::Index(i)) => Slot::Table(a.get_mut(i)?),
            (Slot::Item(Item::Value(Value::Array(a))), Segment::Index(i))
            | (Slot::Value(Value::Array(a)), Segment::Index(i)) => Slot::Value(a.get_mut(i)?),
            _ => return None,
        };
    }
    Some(slot)
}

enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            if let Ok(i) = r[..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = r.get(end + 1..).unwrap_or("");
        } else if rest.starts_with('"') {
            // A quoted key: find the closing quote, honouring escapes.
            let mut end = 1;
            let bytes = rest.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = (end + 1).min(rest.len());
            out.push(Segment::Key(unquote(&rest[..end])));
            rest = &rest[end..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Segment::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

fn unquote(key: &str) -> String {
    if key.len() >= 2 && key.starts_with('"') && key.ends_with('"') {
        serde_json::from_str(key).unwrap_or_else(|_| key[1..key.len() - 1].to_owned())
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }

    #[test]
    fn removes_nested_and_quoted_keys() {
        let doc: toml_edit::DocumentMut =
            "[a]\nb = 1\nc = { \"x y\" = 2, z = [1, 2] }\n[[r]]\nn = 1\n"
                .parse()
                .unwrap();
        let mut t = doc.as_table().clone();
        assert!(remove(&mut t, "a.c.\"x y\""));
        assert!(remove(&mut t, "a.c.z[1]"));
        assert!(remove(&mut t, "r[0].n"));
        assert!(!remove(&mut t, "a.nope"));
        let out = toml_edit::DocumentMut::from(t).to_string();
        assert!(!out.contains("x y"), "{out}");
        assert!(out.contains("z = [1]"), "{out}");
    }

    #[test]
    fn maps_paths_to_spans() {
        let text = "[service]\nport = 80\n[[regions]]\nname = \"x\"\n";
        let doc = toml_edit::Document::parse(text).unwrap();
        let map = SourceMap::build(doc.as_table());
        assert_eq!(map.value_offset("service.port"), Some(17));
        assert_eq!(map.key_offset("regions[0].name"), Some(32));
        assert_eq!(
            map.value_offset("service.missing"),
            map.value_offset("service")
        );
    }
}
