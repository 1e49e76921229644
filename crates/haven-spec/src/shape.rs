//! The schema's shape: which keys each table of a spec takes and what type each value has,
//! traced once from the serde types in [`crate::schema`] so that it cannot drift from them.
//! Loading checks a document against it in one walk, finding every unknown key and wrong type
//! without deserializing (serde stops at the first problem); `haven show` lays its output out
//! by it.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_reflection::{ContainerFormat, Format, Registry, Tracer, TracerConfig};
use toml_edit::{Item, Table, TableLike, Value};

use crate::schema;
use crate::source_map::join;

/// What a key's value must be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Bool,
    Int,
    /// A number: serde reads an integer into an `f64` too.
    Float,
    Str,
    Array(Box<Shape>),
    /// Keys the user names (tags, topics), each holding the same shape.
    Map(Box<Shape>),
    /// The fixed keys of a schema struct, in the order they are declared.
    Table(Vec<(String, Shape)>),
}

impl Shape {
    /// The shape of a whole spec, [`schema::Document`].
    pub(crate) fn document() -> &'static Shape {
        static SHAPE: OnceLock<Shape> = OnceLock::new();
        SHAPE.get_or_init(|| {
            trace::<schema::Document>().expect(
                "the schema is plain structs, options, vectors and string maps (a unit test traces it)",
            )
        })
    }

    /// "an integer", "an array of strings": what a wrong-type diagnostic expects.
    pub(crate) fn describe(&self) -> String {
        match self {
            Shape::Bool => "`true` or `false`".into(),
            Shape::Int => "an integer".into(),
            Shape::Float => "a number".into(),
            Shape::Str => "a string".into(),
            Shape::Array(item) => format!("an array of {}", item.plural()),
            Shape::Map(_) | Shape::Table(_) => "a table".into(),
        }
    }

    fn plural(&self) -> &'static str {
        match self {
            Shape::Bool => "booleans",
            Shape::Int => "integers",
            Shape::Float => "numbers",
            Shape::Str => "strings",
            Shape::Array(_) => "arrays",
            Shape::Map(_) | Shape::Table(_) => "tables",
        }
    }
}

/// Traces `T`'s `Deserialize` (serde-reflection drives it with a recording deserializer) into
/// a shape.
fn trace<'de, T: Deserialize<'de>>() -> Result<Shape, String> {
    let mut tracer = Tracer::new(TracerConfig::default());
    let (format, _) = tracer.trace_simple_type::<T>().map_err(|e| e.to_string())?;
    let registry = tracer.registry().map_err(|e| e.to_string())?;
    convert(&format, &registry)
}

fn convert(format: &Format, registry: &Registry) -> Result<Shape, String> {
    Ok(match format {
        // TOML has no null: an optional key is one that may be left out.
        Format::Option(inner) => convert(inner, registry)?,
        Format::Bool => Shape::Bool,
        Format::I64 => Shape::Int,
        Format::F64 => Shape::Float,
        Format::Str => Shape::Str,
        Format::Seq(item) => Shape::Array(Box::new(convert(item, registry)?)),
        Format::Map { key, value } if **key == Format::Str => {
            Shape::Map(Box::new(convert(value, registry)?))
        }
        Format::TypeName(name) => match registry.get(name) {
            Some(ContainerFormat::Struct(fields)) => Shape::Table(
                fields
                    .iter()
                    .map(|f| Ok((f.name.clone(), convert(&f.value, registry)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => return Err(format!("`{name}` is {other:?}, not a struct")),
        },
        other => return Err(format!("{other:?} is not a type the schema uses")),
    })
}

/// Where a document departs from the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mismatch {
    /// A key the table at `parent` does not take; `accepted` are the keys it does.
    Unknown {
        path: String,
        key: String,
        parent: String,
        accepted: Vec<String>,
    },
    /// A value of another type than the schema's, e.g. `found` `string "sixty"`.
    WrongType {
        path: String,
        found: String,
        expected: String,
    },
}

impl Mismatch {
    /// The key path at fault, e.g. `regions[1].vpc_cidr`.
    pub(crate) fn path(&self) -> &str {
        match self {
            Mismatch::Unknown { path, .. } | Mismatch::WrongType { path, .. } => path,
        }
    }
}

/// Every mismatch between a document and a shape, in document order.
pub(crate) fn check(root: &Table, shape: &Shape) -> Vec<Mismatch> {
    let mut out = Vec::new();
    walk(&Node::Table(root), shape, "", &mut out);
    out
}

/// A TOML value seen the same way whichever syntax wrote it: `[table]` or `{ inline }`,
/// `[[array]]` or `[...]`.
enum Node<'a> {
    Table(&'a dyn TableLike),
    Array(Vec<Node<'a>>),
    Scalar(&'a Value),
}

impl<'a> Node<'a> {
    fn of_item(item: &'a Item) -> Option<Self> {
        match item {
            Item::None => None,
            Item::Table(t) => Some(Node::Table(t)),
            Item::ArrayOfTables(a) => Some(Node::Array(
                a.iter().map(|t| Node::Table(t as &dyn TableLike)).collect(),
            )),
            Item::Value(v) => Some(Node::of_value(v)),
        }
    }

    fn of_value(value: &'a Value) -> Self {
        match value {
            Value::InlineTable(t) => Node::Table(t),
            Value::Array(a) => Node::Array(a.iter().map(Node::of_value).collect()),
            other => Node::Scalar(other),
        }
    }

    /// What was found, for a wrong-type diagnostic: `string "sixty"`, `a table`.
    fn describe(&self) -> String {
        match self {
            Node::Table(_) => "a table".into(),
            Node::Array(_) => "an array".into(),
            Node::Scalar(Value::String(s)) => format!("string {:?}", s.value()),
            Node::Scalar(Value::Integer(i)) => format!("integer {}", i.value()),
            Node::Scalar(Value::Float(f)) => format!("float {}", f.value()),
            Node::Scalar(Value::Boolean(b)) => format!("boolean {}", b.value()),
            Node::Scalar(Value::Datetime(d)) => format!("date-time {}", d.value()),
            // Arrays and inline tables are not scalars (see `of_value`).
            Node::Scalar(Value::Array(_) | Value::InlineTable(_)) => "a value".into(),
        }
    }
}

fn walk(node: &Node<'_>, shape: &Shape, path: &str, out: &mut Vec<Mismatch>) {
    match (node, shape) {
        (Node::Scalar(Value::Boolean(_)), Shape::Bool)
        | (Node::Scalar(Value::Integer(_)), Shape::Int | Shape::Float)
        | (Node::Scalar(Value::Float(_)), Shape::Float)
        | (Node::Scalar(Value::String(_)), Shape::Str) => {}
        (Node::Array(items), Shape::Array(item_shape)) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, item_shape, &format!("{path}[{i}]"), out);
            }
        }
        (Node::Table(table), Shape::Map(value_shape)) => {
            for (key, item) in table.iter() {
                if let Some(child) = Node::of_item(item) {
                    walk(&child, value_shape, &join(path, key), out);
                }
            }
        }
        (Node::Table(table), Shape::Table(fields)) => {
            for (key, item) in table.iter() {
                let Some(child) = Node::of_item(item) else {
                    continue;
                };
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, field_shape)) => walk(&child, field_shape, &join(path, key), out),
                    None => out.push(Mismatch::Unknown {
                        path: join(path, key),
                        key: key.to_owned(),
                        parent: path.to_owned(),
                        accepted: fields.iter().map(|(name, _)| name.clone()).collect(),
                    }),
                }
            }
        }
        (found, expected) => out.push(Mismatch::WrongType {
            path: path.to_owned(),
            found: found.describe(),
            expected: expected.describe(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the key `name` of a table shape.
    fn field<'a>(shape: &'a Shape, name: &str) -> Option<&'a Shape> {
        match shape {
            Shape::Table(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, s)| s),
            _ => None,
        }
    }

    #[test]
    fn the_schema_is_traced_with_its_keys_in_order() {
        let doc = trace::<schema::Document>().expect("the schema traces");
        let Shape::Table(fields) = &doc else {
            panic!("the document is a table: {doc:?}");
        };
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "project",
                "regions",
                "service",
                "environments",
                "registry",
                "source",
                "build",
                "pipeline",
                "monitoring",
                "notifications",
                "routing",
                "dr",
                "network",
                "local"
            ]
        );
        let at = |path: &[&str]| {
            path.iter()
                .try_fold(&doc, |s, k| match s {
                    Shape::Array(item) => field(item, k),
                    Shape::Map(value) => field(value, k),
                    _ => field(s, k),
                })
                .cloned()
        };
        let cases: &[(&[&str], Shape)] = &[
            (&["project", "name"], Shape::Str),
            (&["project", "tags"], Shape::Map(Box::new(Shape::Str))),
            (&["regions", "azs"], Shape::Int),
            (&["service", "command"], Shape::Array(Box::new(Shape::Str))),
            (&["service", "read_only_root_filesystem"], Shape::Bool),
            (&["monitoring", "alarms", "cpu", "threshold"], Shape::Float),
            (&["dr", "rps"], Shape::Int),
            (&["dr", "scenarios", "rollback"], Shape::Bool),
            (
                &["notifications", "topics", "email"],
                Shape::Array(Box::new(Shape::Str)),
            ),
        ];
        for (path, shape) in cases {
            assert_eq!(at(path).as_ref(), Some(shape), "{path:?}");
        }
        assert_eq!(Shape::document(), &doc);
    }

    /// The mismatches of a document, one line each: `path: unknown (accepted)` or
    /// `path: found X, expected Y`.
    fn mismatches(text: &str) -> Vec<String> {
        let doc = toml_edit::Document::parse(text).expect("valid TOML");
        check(doc.as_table(), Shape::document())
            .into_iter()
            .map(|m| match m {
                Mismatch::Unknown {
                    path,
                    parent,
                    accepted,
                    ..
                } => format!("{path}: unknown in `{parent}` ({} keys)", accepted.len()),
                Mismatch::WrongType {
                    path,
                    found,
                    expected,
                } => format!("{path}: found {found}, expected {expected}"),
            })
            .collect()
    }

    #[test]
    fn every_unknown_key_and_wrong_type_is_found_in_one_walk() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("[service]\nport = 80\ncommand = [\"a\"]\n", &[]),
            // An integer is a number; serde reads it into an f64.
            ("[monitoring.alarms.cpu]\nthreshold = 80\n", &[]),
            (
                "[routing]\nttl = \"sixty\"\nfailure_threshold = 1.5\nmode = true\n",
                &[
                    "routing.ttl: found string \"sixty\", expected an integer",
                    "routing.failure_threshold: found float 1.5, expected an integer",
                    "routing.mode: found boolean true, expected a string",
                ],
            ),
            (
                "nope = 1\n[service]\nprot = 1\ncommand = [\"a\", 2, \"b\", false]\n",
                &[
                    "nope: unknown in `` (14 keys)",
                    "service.prot: unknown in `service` (18 keys)",
                    "service.command[1]: found integer 2, expected a string",
                    "service.command[3]: found boolean false, expected a string",
                ],
            ),
            (
                "[[regions]]\nname = \"us-east-1\"\nazs = \"2\"\n[[regions]]\nnam = \"x\"\n",
                &[
                    "regions[0].azs: found string \"2\", expected an integer",
                    "regions[1].nam: unknown in `regions[1]` (7 keys)",
                ],
            ),
            (
                "service = { command = \"bin/app\", health_check = { pth = \"/\" } }\n",
                &[
                    "service.command: found string \"bin/app\", expected an array of strings",
                    "service.health_check.pth: unknown in `service.health_check` (7 keys)",
                ],
            ),
            (
                "[project]\ntags = { team = 1, \"cost center\" = \"x\" }\n[[service]]\n",
                &[
                    "project.tags.team: found integer 1, expected a string",
                    "service: found an array, expected a table",
                ],
            ),
            (
                "[notifications.topics.ops]\nemail = \"a@b.co\"\nwebhook = []\n",
                &[
                    "notifications.topics.ops.email: found string \"a@b.co\", expected an array of strings",
                    "notifications.topics.ops.webhook: unknown in `notifications.topics.ops` (3 keys)",
                ],
            ),
            (
                "[local]\nstate_dir = 1979-05-27\n",
                &["local.state_dir: found date-time 1979-05-27, expected a string"],
            ),
        ];
        for (text, expect) in cases {
            assert_eq!(mismatches(text), *expect, "{text}");
        }
    }
}
