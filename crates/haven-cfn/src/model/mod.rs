//! A typed model of the CloudFormation templates haven writes: templates, parameters, outputs,
//! resources with typed properties, and intrinsic functions. Serializing it gives the template
//! JSON; maps are `BTreeMap`s and structs keep their field order, so output is deterministic.

mod expr;
pub mod resources;

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

pub use expr::{Expr, ExprList};
pub use resources::Properties;

/// Whether a property is left out of the template: unset options and empty lists are.
pub trait Omit {
    fn omit(&self) -> bool {
        false
    }
}

impl<T> Omit for Option<T> {
    fn omit(&self) -> bool {
        self.is_none()
    }
}

impl<T> Omit for Vec<T> {
    fn omit(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> Omit for BTreeMap<K, V> {
    fn omit(&self) -> bool {
        self.is_empty()
    }
}

impl Omit for ExprList {
    fn omit(&self) -> bool {
        matches!(self, ExprList::Items(items) if items.is_empty())
    }
}

impl Omit for serde_json::Value {
    fn omit(&self) -> bool {
        self.is_null()
    }
}

impl Omit for Expr {}
impl Omit for String {}
impl Omit for &'static str {}
impl Omit for bool {}
impl Omit for u16 {}
impl Omit for u32 {}
impl Omit for u64 {}
impl Omit for f64 {}

/// Declares a property struct: CloudFormation's PascalCase names, unset fields left out.
/// Fields whose AWS name is not plain PascalCase carry their own `#[serde(rename)]`.
macro_rules! cfn_struct {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(skip_serializing_if = "crate::model::Omit::omit")]
                pub $field: $ty,
            )*
        }
        impl crate::model::Omit for $name {}
    };
}
pub(crate) use cfn_struct;

/// A logical id: letters and digits, unique in its template.
pub type LogicalId = String;

/// One template, ready to serialize.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub description: String,
    pub parameters: BTreeMap<String, Parameter>,
    pub conditions: BTreeMap<String, Expr>,
    pub resources: BTreeMap<LogicalId, Resource>,
    pub outputs: BTreeMap<String, Output>,
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("AWSTemplateFormatVersion", "2010-09-09")?;
        map.serialize_entry("Description", &self.description)?;
        if !self.parameters.is_empty() {
            map.serialize_entry("Parameters", &self.parameters)?;
        }
        if !self.conditions.is_empty() {
            map.serialize_entry("Conditions", &self.conditions)?;
        }
        map.serialize_entry("Resources", &self.resources)?;
        if !self.outputs.is_empty() {
            map.serialize_entry("Outputs", &self.outputs)?;
        }
        map.end()
    }
}

cfn_struct! {
    /// A stack parameter. Values from other stacks arrive this way (see `docs/aws.md`).
    pub struct Parameter {
        r#type: &'static str,
        description: String,
        default: Option<String>,
        allowed_pattern: Option<String>,
        constraint_description: Option<String>,
    }
}

cfn_struct! {
    pub struct Output {
        description: String,
        value: Expr,
    }
}

/// A resource: its typed properties plus the attributes every resource may carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub properties: Properties,
    pub depends_on: Vec<LogicalId>,
    pub condition: Option<String>,
    pub metadata: Metadata,
}

impl Resource {
    pub fn new(properties: impl Into<Properties>) -> Self {
        Self {
            properties: properties.into(),
            depends_on: Vec::new(),
            condition: None,
            metadata: Metadata::default(),
        }
    }

    pub fn depends_on(mut self, ids: &[&str]) -> Self {
        self.depends_on.extend(ids.iter().map(|s| (*s).to_owned()));
        self
    }

    /// Skips a checkov check on this resource, with the reason written next to it.
    pub fn skip(mut self, skip: crate::skips::Skip) -> Self {
        self.metadata.checkov_skips.push(skip);
        self
    }
}

impl<P: Into<Properties>> From<P> for Resource {
    fn from(p: P) -> Self {
        Self::new(p)
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("Type", self.properties.type_name())?;
        if let Some(c) = &self.condition {
            map.serialize_entry("Condition", c)?;
        }
        if !self.depends_on.is_empty() {
            map.serialize_entry("DependsOn", &self.depends_on)?;
        }
        if self.properties.is_stateful() {
            // Stated, not left to the default: `haven destroy` removes the data too.
            map.serialize_entry("DeletionPolicy", "Delete")?;
            map.serialize_entry("UpdateReplacePolicy", "Delete")?;
        }
        if !self.metadata.checkov_skips.is_empty() {
            map.serialize_entry("Metadata", &self.metadata)?;
        }
        map.serialize_entry("Properties", &self.properties)?;
        map.end()
    }
}

/// Resource metadata; haven writes only checkov's inline skips.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub checkov_skips: Vec<crate::skips::Skip>,
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Checkov<'a> {
            skip: Vec<SkipEntry<'a>>,
        }
        #[derive(Serialize)]
        struct SkipEntry<'a> {
            id: &'a str,
            comment: &'a str,
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(
            "checkov",
            &Checkov {
                skip: self
                    .checkov_skips
                    .iter()
                    .map(|k| SkipEntry {
                        id: k.id,
                        comment: k.comment,
                    })
                    .collect(),
            },
        )?;
        map.end()
    }
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: Expr,
}

impl Omit for Tag {}

impl Tag {
    pub fn name(value: impl Into<Expr>) -> Vec<Tag> {
        vec![Tag {
            key: "Name".into(),
            value: value.into(),
        }]
    }
}

/// A `Key`/`Value` pair, as ELB attributes are written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    pub key: String,
    pub value: Expr,
}

impl Omit for KeyValue {}

pub fn kv(key: &str, value: impl Into<Expr>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: value.into(),
    }
}
