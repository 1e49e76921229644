//! The image's `User` (`uid`, `uid:gid`, `name`, `name:group`) resolved against the image's own
//! /etc/passwd and /etc/group, as Docker and ECS resolve it.

use std::path::Path;

use crate::error::{Error, Result};

/// A resolved user: what runc's `process.user` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups in /etc/group that list the user by name.
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home directory, for `HOME` when the image does not set it.
    pub home: Option<String>,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user` (empty → root) inside `rootfs`. A name absent from the image is an error
/// naming it; a numeric uid absent from /etc/passwd is fine (gid then defaults to the uid's
/// passwd gid, or 0), as in Docker.
pub fn resolve(id: &str, rootfs: &Path, user: &str) -> Result<ResolvedUser> {
    let unknown = |reason: String| Error::UnknownUser {
        id: id.to_owned(),
        user: user.to_owned(),
        reason,
    };
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_passwd(&rootfs.join("etc/passwd"))?;
    let (uid, mut gid, name, home) = if user_part.is_empty() {
        (0, 0, Some("root".to_owned()), None)
    } else if let Ok(uid) = user_part.parse::<u32>() {
        match passwd.iter().find(|p| p.uid == uid) {
            Some(p) => (uid, p.gid, Some(p.name.clone()), Some(p.home.clone())),
            None => (uid, 0, None, None),
        }
    } else {
        match passwd.iter().find(|p| p.name == user_part) {
            Some(p) => (p.uid, p.gid, Some(p.name.clone()), Some(p.home.clone())),
            None => {
                return Err(unknown(format!(
                    "no matching entries in passwd file {}",
                    rootfs.join("etc/passwd").display()
                )));
            }
        }
    };
    let groups = read_groups(&rootfs.join("etc/group"))?;
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match groups.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None => {
                    return Err(unknown(format!(
                        "no matching entries in group file {}",
                        rootfs.join("etc/group").display()
                    )));
                }
            },
        };
    }
    let mut additional_gids: Vec<u32> = match &name {
        Some(n) => groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == n) && g.gid != gid)
            .map(|g| g.gid)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: home.filter(|h| !h.is_empty()),
    })
}

/// Reads a colon-separated database; a missing file is an empty one (images `FROM scratch`).
fn read_db(path: &Path) -> Result<Vec<Vec<String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(haven_fs::IoError::new(path, e).into()),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(str::to_owned).collect())
        .collect())
}

fn read_passwd(path: &Path) -> Result<Vec<Passwd>> {
    Ok(read_db(path)?
        .into_iter()
        // name:password:uid:gid:gecos:home:shell; malformed lines are skipped, as libc does.
        .filter_map(|f| {
            Some(Passwd {
                name: f.first()?.clone(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).cloned().unwrap_or_default(),
            })
        })
        .collect())
}

fn read_groups(path: &Path) -> Result<Vec<Group>> {
    Ok(read_db(path)?
        .into_iter()
        // name:password:gid:member,member
        .filter_map(|f| {
            Some(Group {
                name: f.first()?.clone(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:10001:10002::/home/app:/bin/sh\nbroken line\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:10002:\nextra:x:20000:app,other\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn resolves_each_form_as_docker_does() {
        let dir = rootfs();
        /// uid, gid, supplementary gids; `None`: refused.
        type Want = Option<(u32, u32, &'static [u32])>;
        let cases: &[(&str, Want)] = &[
            ("", Some((0, 0, &[]))),
            ("0", Some((0, 0, &[]))),
            ("app", Some((10001, 10002, &[20000]))),
            ("10001", Some((10001, 10002, &[20000]))),
            ("app:extra", Some((10001, 20000, &[]))),
            ("app:5", Some((10001, 5, &[20000]))),
            ("4242", Some((4242, 0, &[]))),
            ("4242:4343", Some((4242, 4343, &[]))),
            ("nobody", None),
            ("app:nogroup", None),
        ];
        for (user, want) in cases {
            let got = resolve("t", dir.path(), user);
            match (want, got) {
                (Some((uid, gid, extra)), Ok(u)) => {
                    assert_eq!(
                        (u.uid, u.gid, u.additional_gids.as_slice()),
                        (*uid, *gid, *extra),
                        "{user}"
                    );
                }
                (None, Err(Error::UnknownUser { user: u, .. })) => assert_eq!(&u, user),
                (want, got) => panic!("{user}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_scratch_image_knows_only_numbers() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve("t", dir.path(), "10001").unwrap().uid, 10001);
        assert!(matches!(
            resolve("t", dir.path(), "app"),
            Err(Error::UnknownUser { .. })
        ));
    }
}
