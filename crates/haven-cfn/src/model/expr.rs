//! Values that CloudFormation resolves at deploy time: literals and intrinsic functions.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// A string-valued property: a literal or an intrinsic function.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expr {
    #[default]
    Empty,
    Str(String),
    /// `{"Ref": name}`: a parameter, a pseudo parameter or a resource's primary id.
    Ref(String),
    /// `{"Fn::GetAtt": [resource, attribute]}`.
    GetAtt(String, String),
    /// `{"Fn::Sub": template}`, resolving `${Name}` against parameters, resources and pseudo
    /// parameters.
    Sub(String),
    /// `{"Fn::Sub": [template, {name: value}]}`.
    SubWith(String, BTreeMap<String, Expr>),
    /// `{"Fn::ImportValue": export}`. Unused by haven's own stacks (see `docs/aws.md`: stack
    /// parameters carry cross-stack values), kept for templates that consume haven's outputs.
    ImportValue(Box<Expr>),
    /// `{"Fn::Select": [index, list]}`.
    Select(usize, Box<Expr>),
    /// `{"Fn::GetAZs": region}`; the empty string means the stack's region.
    GetAzs(String),
    /// `{"Fn::Join": [separator, items]}`.
    Join(String, Vec<Expr>),
    /// `{"Fn::Split": [separator, text]}`, a list (inside `Fn::Select`).
    Split(String, Box<Expr>),
    /// `{"Fn::Equals": [a, b]}`, for `Conditions`.
    Equals(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    pub fn r#ref(name: impl Into<String>) -> Self {
        Self::Ref(name.into())
    }

    pub fn get_att(resource: impl Into<String>, attribute: impl Into<String>) -> Self {
        Self::GetAtt(resource.into(), attribute.into())
    }

    /// `Fn::Sub` when the text has a `${...}` placeholder, else a plain string (cfn-lint warns
    /// about a `Fn::Sub` with nothing to substitute).
    pub fn sub(template: impl Into<String>) -> Self {
        let template = template.into();
        if template.contains("${") {
            Self::Sub(template)
        } else {
            Self::Str(template)
        }
    }

    /// The `i`th availability zone of the stack's region. Zones are never written by name:
    /// names differ between accounts, and cfn-lint rejects hard-coded zones.
    pub fn az(i: usize) -> Self {
        Self::Select(i, Box::new(Self::GetAzs(String::new())))
    }

    /// The `i`th part of `text` split at `separator`.
    pub fn split_select(i: usize, separator: &str, text: Expr) -> Self {
        Self::Select(
            i,
            Box::new(Self::Split(separator.to_owned(), Box::new(text))),
        )
    }

    /// An ARN in this stack's partition, region and account:
    /// `arn:…:{service}:{region}:{account}:{rest}`.
    pub fn arn(service: &str, rest: &str) -> Self {
        Self::Sub(format!(
            "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}"
        ))
    }

    /// An ARN in another region of this stack's partition and account.
    pub fn arn_in(region: &str, service: &str, rest: &str) -> Self {
        Self::Sub(format!(
            "arn:${{AWS::Partition}}:{service}:{region}:${{AWS::AccountId}}:{rest}"
        ))
    }

    /// A global ARN (IAM, S3): `arn:…:{service}::{account}:{rest}`, or without the account for
    /// S3 (`account = false`).
    pub fn global_arn(service: &str, rest: &str, account: bool) -> Self {
        let account = if account { "${AWS::AccountId}" } else { "" };
        Self::Sub(format!(
            "arn:${{AWS::Partition}}:{service}::{account}:{rest}"
        ))
    }
}

impl From<&str> for Expr {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Expr {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn one<S: Serializer, V: Serialize + ?Sized>(
            s: S,
            key: &str,
            value: &V,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(key, value)?;
            map.end()
        }
        match self {
            Self::Empty => s.serialize_str(""),
            Self::Str(v) => s.serialize_str(v),
            Self::Ref(name) => one(s, "Ref", name),
            Self::GetAtt(r, a) => one(s, "Fn::GetAtt", &[r, a]),
            Self::Sub(t) => one(s, "Fn::Sub", t),
            Self::SubWith(t, vars) => one(s, "Fn::Sub", &(t, vars)),
            Self::ImportValue(e) => one(s, "Fn::ImportValue", e),
            Self::Select(i, list) => one(s, "Fn::Select", &(i, list)),
            Self::GetAzs(region) => one(s, "Fn::GetAZs", region),
            Self::Join(sep, items) => one(s, "Fn::Join", &(sep, items)),
            Self::Split(sep, text) => one(s, "Fn::Split", &(sep, text)),
            Self::Equals(a, b) => one(s, "Fn::Equals", &[a, b]),
        }
    }
}

/// A list-valued property: literal items, or one expression that resolves to a list (a `Ref` to
/// a `List<...>` parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprList {
    Items(Vec<Expr>),
    Whole(Expr),
}

impl Default for ExprList {
    fn default() -> Self {
        Self::Items(Vec::new())
    }
}

impl From<Vec<Expr>> for ExprList {
    fn from(items: Vec<Expr>) -> Self {
        Self::Items(items)
    }
}

impl Serialize for ExprList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Items(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Whole(e) => e.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intrinsics_serialize_as_cloudformation_writes_them() {
        let check = |e: Expr, v: serde_json::Value| assert_eq!(serde_json::to_value(e).unwrap(), v);
        check(Expr::str("x"), json!("x"));
        check(Expr::r#ref("Vpc"), json!({"Ref": "Vpc"}));
        check(
            Expr::get_att("Alb", "DNSName"),
            json!({"Fn::GetAtt": ["Alb", "DNSName"]}),
        );
        check(
            Expr::sub("a-${AWS::Region}"),
            json!({"Fn::Sub": "a-${AWS::Region}"}),
        );
        check(Expr::sub("plain"), json!("plain"));
        check(
            Expr::SubWith(
                "${A}".into(),
                BTreeMap::from([("A".into(), Expr::r#ref("B"))]),
            ),
            json!({"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]}),
        );
        check(
            Expr::ImportValue(Box::new(Expr::str("x-VpcId"))),
            json!({"Fn::ImportValue": "x-VpcId"}),
        );
        check(Expr::az(1), json!({"Fn::Select": [1, {"Fn::GetAZs": ""}]}));
        check(
            Expr::Join(",".into(), vec![Expr::r#ref("A"), Expr::r#ref("B")]),
            json!({"Fn::Join": [",", [{"Ref": "A"}, {"Ref": "B"}]]}),
        );
        check(
            Expr::Equals(Box::new(Expr::r#ref("P")), Box::new(Expr::str("x"))),
            json!({"Fn::Equals": [{"Ref": "P"}, "x"]}),
        );
    }

    #[test]
    fn lists_are_items_or_one_list_valued_expression() {
        let items = ExprList::Items(vec![Expr::str("a")]);
        assert_eq!(serde_json::to_value(items).unwrap(), json!(["a"]));
        let whole = ExprList::Whole(Expr::r#ref("Subnets"));
        assert_eq!(
            serde_json::to_value(whole).unwrap(),
            json!({"Ref": "Subnets"})
        );
    }
}
