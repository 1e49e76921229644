//! Signed calls to the AWS services haven uses without an SDK crate, by protocol: JSON 1.1
//! (SSM, CodeBuild, ECS, ECR), the Query protocol (ELBv2, CloudWatch, SNS, STS; XML answers) and
//! REST-XML (Route 53). Errors carry AWS's code and message, never the request (it may hold a
//! secret). Why no SDK crate for these: see `client.rs`.

use crate::Error;
use crate::client::{Aws, RawRequest};

/// A JSON 1.1 service: its signing name and the prefix of its `X-Amz-Target`.
#[derive(Debug, Clone, Copy)]
pub struct JsonService {
    /// The signing name, after the endpoint's own prefix and a dot when the host differs:
    /// ECR signs as `ecr` but answers at `api.ecr.<region>.amazonaws.com`, so `api.ecr`.
    pub signing_name: &'static str,
    pub target_prefix: &'static str,
}

pub const SSM: JsonService = JsonService {
    signing_name: "ssm",
    target_prefix: "AmazonSSM",
};
pub const CODEBUILD: JsonService = JsonService {
    signing_name: "codebuild",
    target_prefix: "CodeBuild_20161006",
};
pub const ECS: JsonService = JsonService {
    signing_name: "ecs",
    target_prefix: "AmazonEC2ContainerServiceV20141113",
};
pub const ECR: JsonService = JsonService {
    signing_name: "api.ecr",
    target_prefix: "AmazonEC2ContainerRegistry_V20150921",
};

/// One JSON 1.1 call; the answer's JSON, or AWS's error as [`Error::Call`].
pub async fn json(
    aws: &Aws,
    region: &str,
    service: JsonService,
    action: &'static str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let failed = |code: Option<String>, message: String| Error::Call {
        stack: None,
        region: region.to_owned(),
        action,
        code,
        message,
    };
    let (host_prefix, signing_name) = match service.signing_name.split_once('.') {
        Some((prefix, name)) => (Some(prefix.to_owned()), name),
        None => (None, service.signing_name),
    };
    let response = aws
        .send_raw(RawRequest {
            service: signing_name,
            region: region.to_owned(),
            method: "POST",
            path: "/".into(),
            headers: vec![
                ("content-type", "application/x-amz-json-1.1".into()),
                (
                    "x-amz-target",
                    format!("{}.{action}", service.target_prefix),
                ),
            ],
            body: body.to_string().into_bytes(),
            host_prefix,
        })
        .await
        .map_err(|e| failed(None, e))?;
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    if (200..300).contains(&response.status) {
        return Ok(answer);
    }
    // `__type` is `ParameterNotFound` or `com.amazonaws.ssm#ParameterNotFound`.
    let code = answer["__type"]
        .as_str()
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
    let message = answer["message"]
        .as_str()
        .or(answer["Message"].as_str())
        .map_or_else(|| format!("HTTP {}", response.status), str::to_owned);
    Err(failed(code, message))
}

/// One Query-protocol call (`Action=...&Version=...` form-encoded); the answer's XML text, or
/// AWS's error (`<Error><Code>`, `<Message>`) as [`Error::Call`].
pub async fn query(
    aws: &Aws,
    region: &str,
    signing_name: &'static str,
    version: &'static str,
    action: &'static str,
    params: &[(&str, String)],
) -> Result<String, Error> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action);
    form.append_pair("Version", version);
    for (k, v) in params {
        form.append_pair(k, v);
    }
    xml_call(
        aws,
        action,
        RawRequest {
            service: signing_name,
            region: region.to_owned(),
            method: "POST",
            path: "/".into(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: form.finish().into_bytes(),
            host_prefix: None,
        },
    )
    .await
}

/// One REST-XML call (Route 53): `method` on `path` with an optional XML body; the answer's
/// XML text, or AWS's error as [`Error::Call`].
pub async fn rest_xml(
    aws: &Aws,
    region: &str,
    signing_name: &'static str,
    action: &'static str,
    method: &'static str,
    path: String,
    body: Option<String>,
) -> Result<String, Error> {
    let mut headers = Vec::new();
    if body.is_some() {
        headers.push(("content-type", "application/xml".to_owned()));
    }
    xml_call(
        aws,
        action,
        RawRequest {
            service: signing_name,
            region: region.to_owned(),
            method,
            path,
            headers,
            body: body.unwrap_or_default().into_bytes(),
            host_prefix: None,
        },
    )
    .await
}

/// Sends a call of an XML protocol; the answer's text, or AWS's error as [`Error::Call`].
async fn xml_call(aws: &Aws, action: &'static str, request: RawRequest) -> Result<String, Error> {
    let region = request.region.clone();
    let response = aws.send_raw(request).await.map_err(|e| Error::Call {
        stack: None,
        region: region.clone(),
        action,
        code: None,
        message: e,
    })?;
    let text = response.text().into_owned();
    if (200..300).contains(&response.status) {
        return Ok(text);
    }
    Err(xml_error(&region, action, response.status, &text))
}

/// AWS's XML error: the first `Code` and `Message` elements, wherever the protocol nests them.
fn xml_error(region: &str, action: &'static str, status: u16, text: &str) -> Error {
    Error::Call {
        stack: None,
        region: region.to_owned(),
        action,
        code: first(text.as_bytes(), "Error", "Code"),
        message: first(text.as_bytes(), "Error", "Message")
            .unwrap_or_else(|| format!("HTTP {status}")),
    }
}

/// An element's name and the text of some of its children.
pub(crate) type Record = (String, Vec<Option<String>>);

/// For each element named one of `entries` (at any depth), its name and the text of its direct
/// children named in `fields` (in `fields`' order; `None` when absent). Entities and character
/// references are resolved, CDATA is taken as it is.
pub(crate) fn records(
    xml: &[u8],
    entries: &[&str],
    fields: &[&str],
) -> Result<Vec<Record>, String> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    // Open elements' depth; the record being read (its depth, name, fields), and the field.
    let mut depth = 0usize;
    let mut current: Option<(usize, String, Vec<Option<String>>)> = None;
    let mut field: Option<usize> = None;
    let mut text = String::new();
    let bad = |e: &dyn std::fmt::Display| format!("malformed XML: {e}");
    loop {
        let event = reader.read_event().map_err(|e| bad(&e))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                depth += 1;
                match &mut current {
                    None if entries.contains(&name.as_str()) => {
                        current = Some((depth, name, vec![None; fields.len()]));
                    }
                    Some((d, _, values)) if depth == *d + 1 => {
                        field = fields.iter().position(|f| *f == name);
                        text.clear();
                        if empty {
                            if let Some(i) = field.take() {
                                values[i] = Some(String::new());
                            }
                        }
                    }
                    _ => {}
                }
                if empty {
                    depth -= 1;
                    if let Some((d, ..)) = &current {
                        if *d > depth {
                            out.extend(current.take().map(|(_, n, v)| (n, v)));
                        }
                    }
                }
            }
            Event::End(_) => {
                if let Some((d, _, values)) = &mut current {
                    if depth == *d + 1 {
                        if let Some(i) = field.take() {
                            values[i] = Some(std::mem::take(&mut text));
                        }
                    } else if depth == *d {
                        out.extend(current.take().map(|(_, n, v)| (n, v)));
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.xml10_content().map_err(|e| bad(&e))?);
            }
            Event::CData(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| bad(&e))?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| bad(&e))? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| bad(&e))?;
                    let value = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("malformed XML: unknown entity `&{name};`"))?;
                    text.push_str(value);
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// The text of the first `<entry><field>` in `xml`.
pub(crate) fn first(xml: &[u8], entry: &str, field: &str) -> Option<String> {
    records(xml, &[entry], &[field])
        .ok()?
        .into_iter()
        .find_map(|(_, mut values)| values.pop().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_the_query_and_rest_xml_protocols_are_read() {
        let xml = r#"<?xml version="1.0"?>
<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>
  <Message>One or more target groups not found &amp; more</Message></Error>
</ErrorResponse>"#;
        match xml_error("us-east-1", "DescribeTargetHealth", 400, xml) {
            Error::Call { code, message, .. } => {
                assert_eq!(code.as_deref(), Some("TargetGroupNotFound"));
                assert_eq!(message, "One or more target groups not found & more");
            }
            other => panic!("{other:?}"),
        }
        match xml_error("us-east-1", "GetHealthCheck", 503, "not xml") {
            Error::Call { code, message, .. } => {
                assert_eq!(code, None);
                assert_eq!(message, "HTTP 503");
            }
            other => panic!("{other:?}"),
        }
    }
}
