//! The S3 (and STS) calls haven makes, through [`Aws::send_raw`]: emptying a bucket before its
//! stack is deleted, and uploading a template too large to send inline.

use crate::client::{RawRequest, RawResponse};
use crate::{Aws, Error};

/// Percent-encodes a key for a URL path (`/` kept).
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn encode_query(value: &str) -> String {
    encode_path(value).replace('/', "%2F")
}

fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of each `<tag>...</tag>` in `xml`, in order (S3's answers are flat enough for this).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

/// The path of a bucket (and key): path-style on an emulator, virtual-hosted on AWS.
fn bucket_path(aws: &Aws, bucket: &str, key: &str) -> (String, Option<String>) {
    match aws.endpoint_url() {
        Some(_) => (format!("/{bucket}/{}", encode_path(key)), None),
        None => (format!("/{}", encode_path(key)), Some(bucket.to_owned())),
    }
}

/// One S3 request.
struct S3Call<'a> {
    bucket: &'a str,
    method: &'static str,
    key: &'a str,
    query: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    action: &'static str,
}

async fn s3(aws: &Aws, region: &str, call: S3Call<'_>) -> Result<RawResponse, Error> {
    let S3Call {
        bucket,
        method,
        key,
        query,
        headers,
        body,
        action,
    } = call;
    let (mut path, host_bucket) = bucket_path(aws, bucket, key);
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let failed = |code: Option<String>, message: String| Error::Call {
        stack: None,
        region: region.to_owned(),
        action,
        code,
        message: format!("bucket {bucket}: {message}"),
    };
    let response = aws
        .send_raw(RawRequest {
            service: "s3",
            region: region.to_owned(),
            method,
            path,
            headers,
            body,
            host_prefix: host_bucket,
        })
        .await
        .map_err(|e| failed(None, e))?;
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let text = response.text();
    let code = elements(&text, "Code").first().map(|c| (*c).to_owned());
    let message = elements(&text, "Message")
        .first()
        .map_or_else(|| format!("HTTP {}", response.status), |m| xml_unescape(m));
    Err(failed(code, message))
}

/// Deletes every object version and delete marker in the bucket (a versioned bucket keeps
/// them all). A bucket that no longer exists is already empty.
pub async fn empty_bucket(aws: &Aws, region: &str, bucket: &str) -> Result<usize, Error> {
    let mut deleted = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        if rounds > 10_000 {
            return Err(Error::Call {
                stack: None,
                region: region.to_owned(),
                action: "ListObjectVersions",
                code: None,
                message: format!("bucket {bucket} still lists objects after {deleted} deletions"),
            });
        }
        let call = S3Call {
            bucket,
            method: "GET",
            key: "",
            query: "max-keys=1000&versions=".into(),
            headers: Vec::new(),
            body: Vec::new(),
            action: "ListObjectVersions",
        };
        let listing = match s3(aws, region, call).await {
            Ok(r) => r,
            Err(Error::Call { code: Some(c), .. }) if c == "NoSuchBucket" => return Ok(deleted),
            Err(e) => return Err(e),
        };
        let text = listing.text();
        let mut objects = Vec::new();
        for tag in ["Version", "DeleteMarker"] {
            for entry in elements(&text, tag) {
                let key = elements(entry, "Key").first().map(|k| xml_unescape(k));
                let version = elements(entry, "VersionId")
                    .first()
                    .map(|v| xml_unescape(v));
                if let Some(key) = key {
                    objects.push((key, version));
                }
            }
        }
        if objects.is_empty() {
            return Ok(deleted);
        }
        for (key, version) in &objects {
            // Always name the version, `null` included: a DELETE without one would only add a
            // delete marker to a versioned bucket.
            let query = match version.as_deref() {
                Some(v) => format!("versionId={}", encode_query(v)),
                None => String::new(),
            };
            let call = S3Call {
                bucket,
                method: "DELETE",
                key,
                query,
                headers: Vec::new(),
                body: Vec::new(),
                action: "DeleteObject",
            };
            match s3(aws, region, call).await {
                Ok(_) => deleted += 1,
                Err(Error::Call { code: Some(c), .. }) if c == "NoSuchKey" => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Uploads a template body and returns the URL CloudFormation reads it from.
pub async fn put_template(
    aws: &Aws,
    region: &str,
    bucket: &str,
    key: &str,
    body: &str,
) -> Result<String, Error> {
    let call = S3Call {
        bucket,
        method: "PUT",
        key,
        query: String::new(),
        headers: vec![("content-type", "application/json".into())],
        body: body.as_bytes().to_vec(),
        action: "PutObject",
    };
    s3(aws, region, call).await?;
    // CloudFormation reads it from S3 itself; emulators parse this form too (moto does).
    Ok(format!(
        "https://{bucket}.s3.{region}.amazonaws.com/{}",
        encode_path(key)
    ))
}

/// The account the credentials belong to (STS GetCallerIdentity).
pub async fn account_id(aws: &Aws, region: &str) -> Result<String, Error> {
    let failed = |message: String| Error::Call {
        stack: None,
        region: region.to_owned(),
        action: "GetCallerIdentity",
        code: None,
        message,
    };
    let response = aws
        .send_raw(RawRequest {
            service: "sts",
            region: region.to_owned(),
            method: "POST",
            path: "/".into(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
            host_prefix: None,
        })
        .await
        .map_err(failed)?;
    let text = response.text();
    match elements(&text, "Account").first() {
        Some(a) if (200..300).contains(&response.status) => Ok((*a).to_owned()),
        _ => Err(failed(format!("HTTP {}: {text}", response.status))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listings() {
        let xml = "<ListVersionsResult><Version><Key>a&amp;b.json</Key><VersionId>v1</VersionId>\
                   </Version><DeleteMarker><Key>c</Key><VersionId>null</VersionId></DeleteMarker>\
                   </ListVersionsResult>";
        let v = elements(xml, "Version");
        assert_eq!(v.len(), 1);
        assert_eq!(xml_unescape(elements(v[0], "Key")[0]), "a&b.json");
        assert_eq!(elements(xml, "DeleteMarker").len(), 1);
        assert_eq!(xml_unescape("&#65;&#x42;&bogus;"), "AB&bogus;");
    }

    #[test]
    fn encodes_keys() {
        assert_eq!(encode_path("haven/a b+c.json"), "haven/a%20b%2Bc.json");
        assert_eq!(encode_query("x/y"), "x%2Fy");
    }
}
