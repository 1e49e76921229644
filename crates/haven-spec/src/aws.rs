//! Facts about AWS that validation checks against: regions, Fargate sizes, ranges.

/// Commercial AWS regions (partition `aws`), as of 2026.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// CloudWatch Logs' allowed retention periods, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The memory sizes (MiB) Fargate accepts for a CPU size, or `None` for an invalid CPU size.
pub fn fargate_memory(cpu: u32) -> Option<Vec<u32>> {
    let gib = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).map(|g| g * 1024);
    let sizes: Vec<u32> = match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1, 4, 1).collect(),
        1024 => gib(2, 8, 1).collect(),
        2048 => gib(4, 16, 1).collect(),
        4096 => gib(8, 30, 1).collect(),
        8192 => gib(16, 60, 4).collect(),
        16384 => gib(32, 120, 8).collect(),
        _ => return None,
    };
    Some(sizes)
}

pub const FARGATE_CPU: &[u32] = &[256, 512, 1024, 2048, 4096, 8192, 16384];

/// An SSM parameter name problem, or `None` when the name is valid.
///
/// Rules from the Parameter Store docs: letters, digits and `_.-/`; at most 1011 characters;
/// a hierarchy (leading `/`) of at most 15 levels; no `aws` or `ssm` prefix.
pub fn ssm_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > 1011 {
        return Some("is longer than 1011 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c)))
    {
        return Some(format!(
            "contains `{c}`; only letters, digits and `_.-/` are allowed"
        ));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Some("starts with `aws` or `ssm`, which AWS reserves".into());
    }
    if name.contains('/') && !name.starts_with('/') {
        return Some("is hierarchical but does not start with `/`".into());
    }
    if name.ends_with('/') || name.contains("//") {
        return Some("has an empty path segment".into());
    }
    if name.matches('/').count() > 15 {
        return Some("is more than 15 levels deep".into());
    }
    None
}

/// A plausibility check for an e-mail address (what SNS would accept to send a confirmation).
pub fn email_is_valid(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// What is wrong with an image reference, a tag or a digest, as ECR takes them: a tag follows
/// the OCI distribution grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, a digest is
/// `sha256:` and 64 lowercase hex digits. `None` when it is one of them.
pub fn image_reference_problem(reference: &str) -> Option<&'static str> {
    if let Some(hex) = reference.strip_prefix("sha256:") {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        return (!ok).then_some("a digest is `sha256:` and 64 lowercase hex digits");
    }
    let Some(first) = reference.bytes().next() else {
        return Some("it is empty");
    };
    if reference.len() > 128 {
        return Some("a tag has at most 128 characters");
    }
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return Some("a tag starts with a letter, digit or `_`");
    }
    if !reference
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Some("a tag has only letters, digits, `_`, `.` and `-`");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_sizes() {
        assert_eq!(fargate_memory(256), Some(vec![512, 1024, 2048]));
        assert_eq!(fargate_memory(512).unwrap().len(), 4);
        assert!(fargate_memory(8192).unwrap().contains(&(20 * 1024)));
        assert!(!fargate_memory(8192).unwrap().contains(&(18 * 1024)));
        assert_eq!(fargate_memory(300), None);
    }

    #[test]
    fn ssm_names() {
        let check =
            |name: &str, ok: bool| assert_eq!(ssm_name_problem(name).is_none(), ok, "{name}");
        check("/hello/db-password", true);
        check("db_password", true);
        check("hello/db", false);
        check("/aws/secret", false);
        check("/hello/db password", false);
        check("/hello//x", false);
        check("", false);
    }

    #[test]
    fn image_references() {
        let check = |r: &str, ok: bool| {
            assert_eq!(image_reference_problem(r).is_none(), ok, "{r}");
        };
        check("v1-broken", true);
        check("_x.1", true);
        check(&"a".repeat(128), true);
        check(&format!("sha256:{}", "0a".repeat(32)), true);
        check(&"a".repeat(129), false);
        check("", false);
        check("-x", false);
        check("v1/broken", false);
        check("sha256:abc", false);
        check(&format!("sha256:{}", "0A".repeat(32)), false);
    }

    #[test]
    fn emails() {
        let check = |addr: &str, ok: bool| assert_eq!(email_is_valid(addr), ok, "{addr}");
        check("ops@example.com", true);
        check("first.last+tag@sub.example.org", true);
        check("ops@localhost", false);
        check("ops.example.com", false);
        check("@example.com", false);
        check("a b@example.com", false);
        check("ops@-bad.com", false);
    }
}
