//! The S3 (and STS) calls haven makes, through [`Aws::send_raw`]: emptying a bucket before its
//! stack is deleted, and uploading a template too large to send inline.

use crate::api::{first, records};
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
    let code = first(&response.body, "Error", "Code");
    let message = first(&response.body, "Error", "Message")
        .unwrap_or_else(|| format!("HTTP {}", response.status));
    Err(failed(code, message))
}

/// Deletes every object version and delete marker in the bucket (a versioned bucket keeps
/// them all), a page of up to 1000 at a time with one DeleteObjects call. A bucket that no
/// longer exists is already empty.
pub async fn empty_bucket(aws: &Aws, region: &str, bucket: &str) -> Result<usize, Error> {
    let mut deleted = 0;
    let mut rounds = 0;
    let failed = |action: &'static str, code: Option<String>, message: String| Error::Call {
        stack: None,
        region: region.to_owned(),
        action,
        code,
        message: format!("bucket {bucket}: {message}"),
    };
    loop {
        rounds += 1;
        if rounds > 10_000 {
            return Err(failed(
                "ListObjectVersions",
                None,
                format!("still lists objects after {deleted} deletions"),
            ));
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
        let entries = records(
            &listing.body,
            &["Version", "DeleteMarker"],
            &["Key", "VersionId"],
        )
        .map_err(|e| failed("ListObjectVersions", None, e))?;
        let objects: Vec<(String, Option<String>)> = entries
            .into_iter()
            .filter_map(|(_, mut v)| {
                let version = v.pop().flatten();
                Some((v.pop().flatten()?, version))
            })
            .collect();
        if objects.is_empty() {
            return Ok(deleted);
        }
        let body = delete_request(&objects);
        let call = S3Call {
            bucket,
            method: "POST",
            key: "",
            query: "delete=".into(),
            // S3 refuses a DeleteObjects request without a checksum of its body: SHA-256 (the
            // signer's hash algorithm) rather than Content-MD5, which would need an MD5 crate.
            headers: vec![
                ("content-type", "application/xml".into()),
                ("x-amz-sdk-checksum-algorithm", "SHA256".into()),
                ("x-amz-checksum-sha256", sha256_base64(&body)),
            ],
            body,
            action: "DeleteObjects",
        };
        let answer = s3(aws, region, call).await?;
        // Quiet mode: the answer lists only the objects that could not be deleted.
        let errors = records(&answer.body, &["Error"], &["Key", "Code", "Message"])
            .map_err(|e| failed("DeleteObjects", None, e))?;
        let mut refused = 0;
        for (_, v) in &errors {
            let code = v[1].clone();
            if code.as_deref() == Some("NoSuchKey") {
                refused += 1;
                continue;
            }
            let key = v[0].clone().unwrap_or_default();
            let message = v[2].clone().unwrap_or_else(|| "refused".into());
            return Err(failed("DeleteObjects", code, format!("{key}: {message}")));
        }
        deleted += objects.len() - refused;
    }
}

/// The body of a quiet DeleteObjects request for `objects` (key, version), at most 1000.
fn delete_request(objects: &[(String, Option<String>)]) -> Vec<u8> {
    use quick_xml::escape::escape;
    let mut xml = String::from(
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>",
    );
    for (key, version) in objects {
        xml.push_str("<Object><Key>");
        xml.push_str(&escape(key.as_str()));
        xml.push_str("</Key>");
        // Always name the version, `null` included: without one a versioned bucket would only
        // get a delete marker.
        if let Some(v) = version {
            xml.push_str("<VersionId>");
            xml.push_str(&escape(v.as_str()));
            xml.push_str("</VersionId>");
        }
        xml.push_str("</Object>");
    }
    xml.push_str("</Delete>");
    xml.into_bytes()
}

fn sha256_base64(body: &[u8]) -> String {
    use sha2::Digest;
    aws_smithy_types::base64::encode(sha2::Sha256::digest(body))
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

/// Uploads an object in one PutObject (the bucket's default encryption applies): the first
/// build's source archive.
pub async fn put_object(
    aws: &Aws,
    region: &str,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(), Error> {
    let call = S3Call {
        bucket,
        method: "PUT",
        key,
        query: String::new(),
        headers: vec![("content-type", content_type.to_owned())],
        body,
        action: "PutObject",
    };
    s3(aws, region, call).await.map(|_| ())
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
    match first(&response.body, "GetCallerIdentityResult", "Account") {
        Some(a) if (200..300).contains(&response.status) => Ok(a),
        _ => Err(failed(format!(
            "HTTP {}: {}",
            response.status,
            response.text()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Record;

    #[test]
    fn parses_listings() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
            <ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Name>b</Name><Version><Key>a&amp;b &#65;&#x42;.json</Key><VersionId>v1</VersionId>
            <Owner><ID>x</ID></Owner></Version><DeleteMarker><Key><![CDATA[c<d]]></Key>
            <VersionId>null</VersionId></DeleteMarker><Version><Key>e</Key></Version>
            </ListVersionsResult>"#;
        let got = records(xml, &["Version", "DeleteMarker"], &["Key", "VersionId"]);
        let want = vec![
            ("Version", Some("a&b AB.json"), Some("v1")),
            ("DeleteMarker", Some("c<d"), Some("null")),
            ("Version", Some("e"), None),
        ];
        let want: Vec<Record> = want
            .into_iter()
            .map(|(n, k, v)| (n.into(), vec![k.map(Into::into), v.map(Into::into)]))
            .collect();
        assert_eq!(got, Ok(want));
        // An unknown entity or broken nesting is an error, not a silently wrong key.
        assert!(records(b"<V><Key>&bogus;</Key></V>", &["V"], &["Key"]).is_err());
        assert!(records(b"<V><Key>a</V></Key>", &["V"], &["Key"]).is_err());
    }

    #[test]
    fn reads_errors_and_account() {
        let err = b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not \
                    exist &lt;b&gt;</Message><BucketName>b</BucketName></Error>";
        assert_eq!(first(err, "Error", "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(
            first(err, "Error", "Message").as_deref(),
            Some("The specified bucket does not exist <b>")
        );
        let sts = b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn</Arn>\
                    <Account>123456789012</Account></GetCallerIdentityResult>\
                    </GetCallerIdentityResponse>";
        assert_eq!(
            first(sts, "GetCallerIdentityResult", "Account").as_deref(),
            Some("123456789012")
        );
        assert_eq!(first(b"<html>502</html>", "Error", "Code"), None);
    }

    #[test]
    fn delete_requests_escape_and_name_versions() {
        let body = delete_request(&[
            ("a&b<c>.txt".into(), Some("v\"1".into())),
            ("plain".into(), None),
        ]);
        let text = String::from_utf8(body.clone()).unwrap_or_default();
        assert!(text.starts_with(
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        ));
        // What S3 reads back is what was listed.
        let objects = records(&body, &["Object"], &["Key", "VersionId"]);
        assert_eq!(
            objects,
            Ok(vec![
                (
                    "Object".into(),
                    vec![Some("a&b<c>.txt".into()), Some("v\"1".into())]
                ),
                ("Object".into(), vec![Some("plain".into()), None]),
            ])
        );
        // The checksum S3 checks: base64 of the body's SHA-256.
        assert_eq!(
            sha256_base64(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn encodes_keys() {
        assert_eq!(encode_path("haven/a b+c.json"), "haven/a%20b%2Bc.json");
    }
}
