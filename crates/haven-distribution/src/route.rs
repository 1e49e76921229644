//! Request paths of the distribution API, parsed into routes, and repository names checked
//! against the spec's grammar.

/// What a `/v2/...` path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/`: the version check.
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: &'a str },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: &'a str, reference: &'a str },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: &'a str, digest: &'a str },
    /// `/v2/<name>/blobs/uploads/`
    UploadStart { name: &'a str },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: &'a str, id: &'a str },
}

impl<'a> Route<'a> {
    /// The route of `path`, or `None` for a path the API does not have. Names may contain
    /// `/`, so a path is read from its end: references, digests and ids never do.
    pub fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix("/v2")?;
        if rest.is_empty() || rest == "/" {
            return Some(Self::Base);
        }
        let rest = rest.strip_prefix('/')?;
        if rest == "_catalog" {
            return Some(Self::Catalog);
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Some(Self::Tags { name });
        }
        if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/")
            && !id.contains('/')
        {
            return Some(if id.is_empty() {
                Self::UploadStart { name }
            } else {
                Self::Upload { name, id }
            });
        }
        let (head, last) = rest.rsplit_once('/')?;
        let (name, kind) = head.rsplit_once('/')?;
        match kind {
            "manifests" if !last.is_empty() => Some(Self::Manifest {
                name,
                reference: last,
            }),
            "blobs" if !last.is_empty() => Some(Self::Blob { name, digest: last }),
            _ => None,
        }
    }

    pub fn name(&self) -> Option<&'a str> {
        match self {
            Self::Base | Self::Catalog => None,
            Self::Tags { name }
            | Self::Manifest { name, .. }
            | Self::Blob { name, .. }
            | Self::UploadStart { name }
            | Self::Upload { name, .. } => Some(name),
        }
    }
}

/// The spec's repository name grammar: `/`-separated components of lowercase letters and
/// digits, joined by `.`, `_`, `__` or runs of `-`; at most 255 characters (ECR's limit too).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 255 && !name.is_empty() && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    // Separators between alphanumeric runs: `.`, `_`, `__` or any number of `-`.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_from_their_end() {
        let cases = [
            ("/v2/", Some(Route::Base)),
            ("/v2", Some(Route::Base)),
            ("/v2/_catalog", Some(Route::Catalog)),
            ("/v2/a/b/tags/list", Some(Route::Tags { name: "a/b" })),
            (
                "/v2/app/manifests/v1",
                Some(Route::Manifest {
                    name: "app",
                    reference: "v1",
                }),
            ),
            (
                "/v2/blobs/manifests/blobs/x",
                Some(Route::Blob {
                    name: "blobs/manifests",
                    digest: "x",
                }),
            ),
            (
                "/v2/app/blobs/uploads/",
                Some(Route::UploadStart { name: "app" }),
            ),
            (
                "/v2/app/blobs/uploads/u1",
                Some(Route::Upload {
                    name: "app",
                    id: "u1",
                }),
            ),
            ("/v2/app/manifests/", None),
            ("/v3/app/manifests/v1", None),
            ("/v2/app/other/v1", None),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(path), want, "{path}");
        }
    }

    #[test]
    fn names_follow_the_grammar() {
        for good in ["app", "a/b", "my-app", "my__app", "a.b", "a--b", "x1/y2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "", "App", "a/", "/a", "-a", "a-", "a..b", "a___b", "a b", "a//b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
