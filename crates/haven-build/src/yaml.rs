//! A YAML document as a small tree whose every node remembers its line, for located diagnostics.
//!
//! yaml-rust2's own `Yaml` value drops positions and types scalars by YAML 1.2 rules
//! (`0.2` becomes a float, `yes` a string). The buildspec needs the text as written and the line
//! of every key, so this builds its own tree from the parser's marked events.

use std::collections::HashMap;

use yaml_rust2::Event;
use yaml_rust2::parser::{MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A scalar as written: its text (unquoted and unescaped), whether it was quoted, its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar {
    pub text: String,
    pub quoted: bool,
    pub line: usize,
}

impl Scalar {
    /// A plain `~`, `null`, `Null`, `NULL` or empty scalar: YAML's null.
    pub fn is_null(&self) -> bool {
        !self.quoted && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>, usize),
    /// Entries in document order; keys are always scalars (checked while building).
    Map(Vec<(Scalar, Node)>, usize),
}

impl Node {
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar(s) => s.line,
            Node::Seq(_, line) | Node::Map(_, line) => *line,
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar(s) if s.is_null() => "nothing (null)",
            Node::Scalar(_) => "a scalar",
            Node::Seq(..) => "a list",
            Node::Map(..) => "a mapping",
        }
    }
}

/// A YAML syntax error or a structure the buildspec cannot hold (complex keys, duplicate keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Parses the first document of `text`. `Ok(None)` for an empty stream.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_owned(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root)
}

enum Frame {
    Seq {
        items: Vec<Node>,
        line: usize,
        anchor: usize,
    },
    Map {
        entries: Vec<(Scalar, Node)>,
        line: usize,
        anchor: usize,
        /// The key read, waiting for its value.
        key: Option<Scalar>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    /// The first structural error; later events are ignored once set.
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                line,
                message: message.into(),
            });
        }
    }

    /// Adds a finished node to its parent (or makes it the document).
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(k) => {
                    if let Some((first, _)) = entries.iter().find(|(e, _)| e.text == k.text) {
                        let (first_line, dup_line, name) = (first.line, k.line, k.text.clone());
                        self.fail(
                            dup_line,
                            format!("duplicate key `{name}` (first defined on line {first_line})"),
                        );
                    } else {
                        entries.push((k, node));
                    }
                }
                None => match node {
                    Node::Scalar(s) => *key = Some(s),
                    other => {
                        let line = other.line();
                        self.fail(line, "a mapping key must be a plain string");
                    }
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push(Node::Scalar(Scalar { text, quoted, line }), anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                line,
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                line,
                anchor,
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    items,
                    line,
                    anchor,
                }) => self.push(Node::Seq(items, line), anchor),
                Some(Frame::Map {
                    entries,
                    line,
                    anchor,
                    ..
                }) => self.push(Node::Map(entries, line), anchor),
                None => self.fail(line, "unbalanced YAML events"),
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.push(node, 0),
                None => self.fail(line, "alias to an unknown anchor"),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_and_lines() {
        let node = parse("version: 0.2\nenv:\n  variables:\n    A: 'x'\n")
            .unwrap()
            .unwrap();
        let Node::Map(entries, 1) = node else {
            panic!("{node:?}")
        };
        assert_eq!(entries[0].0.text, "version");
        assert_eq!(
            entries[0].1,
            Node::Scalar(Scalar {
                text: "0.2".into(),
                quoted: false,
                line: 1
            })
        );
        let Node::Map(env, _) = &entries[1].1 else {
            panic!()
        };
        assert_eq!(env[0].0.line, 3);
    }

    #[test]
    fn duplicate_keys_and_aliases() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("duplicate key `a`"), "{err:?}");
        let node = parse("x: &v [1, 2]\ny: *v\n").unwrap().unwrap();
        let Node::Map(entries, _) = node else {
            panic!()
        };
        assert_eq!(entries[0].1, entries[1].1);
    }

    #[test]
    fn syntax_errors_have_lines() {
        let err = parse("a:\n  - b\n c: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert_eq!(parse("").unwrap(), None);
    }
}
