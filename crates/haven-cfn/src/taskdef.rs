//! `taskdef.json`: the primary region's production task definition in the shape ECS's
//! `RegisterTaskDefinition` takes (camelCase keys, values resolved), derived from the service
//! stack's typed resource so the two cannot drift. What only deploy time knows (account, image
//! tag) appears as `<account>` and `<tag>`.

use serde_json::{Map, Value};

use crate::SynthError;
use crate::model::Template;

/// The `RegisterTaskDefinition` input for `logical_id` in `template`, deployed in `region`.
pub fn register_input(
    template: &Template,
    logical_id: &str,
    region: &str,
) -> Result<Value, SynthError> {
    let resource = template.resources.get(logical_id).map(|r| &r.properties);
    let value = serde_json::to_value(resource).map_err(|source| SynthError::Serialize {
        what: format!("task definition {logical_id}"),
        source,
    })?;
    let resolver = Resolver { template, region };
    Ok(camel(resolver.resolve(value)))
}

struct Resolver<'a> {
    template: &'a Template,
    region: &'a str,
}

impl Resolver<'_> {
    fn resolve(&self, v: Value) -> Value {
        match v {
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.into_iter().next().unwrap_or_default();
                match key.as_str() {
                    "Ref" => Value::String(self.reference(arg.as_str().unwrap_or_default())),
                    "Fn::GetAtt" => Value::String(self.attribute(&arg)),
                    "Fn::Sub" => Value::String(self.sub(arg.as_str().unwrap_or_default())),
                    "Fn::Join" => Value::String(self.join(arg)),
                    _ => {
                        let mut m = Map::new();
                        m.insert(key, self.resolve(arg));
                        Value::Object(m)
                    }
                }
            }
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, self.resolve(v))).collect())
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.resolve(v)).collect())
            }
            other => other,
        }
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::Region" => self.region.to_owned(),
            "AWS::AccountId" => "<account>".to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "ImageTag" => "<tag>".to_owned(),
            other => {
                // A log group's Ref is its name.
                let name = self
                    .template
                    .resources
                    .get(other)
                    .and_then(|r| serde_json::to_value(&r.properties).ok())
                    .and_then(|p| p.get("LogGroupName").cloned());
                match name {
                    Some(Value::String(n)) => n,
                    _ => format!("<{other}>"),
                }
            }
        }
    }

    /// A role's `Arn`, from its name.
    fn attribute(&self, arg: &Value) -> String {
        let resource = arg.get(0).and_then(Value::as_str).unwrap_or_default();
        let role = self
            .template
            .resources
            .get(resource)
            .and_then(|r| serde_json::to_value(&r.properties).ok())
            .and_then(|p| p.get("RoleName").and_then(Value::as_str).map(str::to_owned));
        match role {
            Some(name) => format!("arn:aws:iam::<account>:role/{name}"),
            None => format!("<{resource}>"),
        }
    }

    fn sub(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            out.push_str(&self.reference(&after[..end]));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn join(&self, arg: Value) -> String {
        let Value::Array(parts) = arg else {
            return String::new();
        };
        let sep = parts
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let items = match parts.get(1) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        items
            .into_iter()
            .map(|v| match self.resolve(v) {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(&sep)
    }
}

/// `ContainerDefinitions` → `containerDefinitions`, recursively; values are left alone.
fn camel(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut cs = k.chars();
                    let key = cs
                        .next()
                        .map(|c| c.to_ascii_lowercase().to_string() + cs.as_str())
                        .unwrap_or_default();
                    (key, camel(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel).collect()),
        other => other,
    }
}
