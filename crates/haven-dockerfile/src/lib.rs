//! Images from a service's Dockerfile: built with buildah, offline, and imported into the
//! ECR twin ([`haven_registry::Registry`]) by digest.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use haven_dockerfile::{BuildRequest, import, probe};
//! use haven_registry::{Registry, TagPolicy};
//!
//! let state = Path::new(".haven");
//! let buildah = probe(&state.join("buildah"))?;
//! let req = BuildRequest::new(".", "Dockerfile", state.join("buildah"));
//! let built = buildah.build(&req, |line| println!("{line}"))?;
//! let registry = Registry::open(&state.join("registry/eu-west-1"), TagPolicy::default())?;
//! let image = import(&built, &registry, "v1")?;
//! println!("{} {}", image.tag, image.digest);
//! # Ok(()) }
//! ```
//!
//! # How builds run
//!
//! buildah is daemonless; each build runs `buildah bud` with the `vfs` storage driver (plain
//! directories: no overlay module, no fuse) and `--isolation chroot` (no user namespaces
//! needed for `RUN` steps), on a storage under a directory the caller gives (e.g.
//! `<state>/buildah`), never the user's global one. Builds for several regions or pipelines
//! may run at once on one storage: buildah locks it for each operation, and haven's own lock
//! keeps images from being removed while any build runs (identical builds make the same
//! image). The image is written out uncompressed, turned into an OCI image layout, and
//! removed from the build storage; working containers go too, also when a step fails, and
//! whatever a killed build left is removed by the next one. The build storage is haven's:
//! only base images stay in it between builds.
//!
//! # Offline
//!
//! Builds never reach a network: base images are never pulled (`--pull=never`), and buildah
//! runs in a network namespace of its own, so `RUN` steps have no network either (no
//! `apt-get install`, no `cargo fetch`: build outside, then `COPY` the result in). A `FROM`
//! of an image that is not in the build storage fails with [`Error::BaseImageNotLocal`],
//! naming the Dockerfile's line.
//!
//! The simplest Dockerfile needs no base at all: `FROM scratch` around a statically linked
//! binary (Rust: `-C target-feature=+crt-static` on `*-linux-gnu`, or a `*-linux-musl`
//! target; C: `gcc -static`), as the hello example does. Where a base image is needed, put
//! it in the build storage under the name the Dockerfile uses, from an archive made
//! somewhere with a registry (`docker save`, `skopeo copy ... docker-archive:base.tar`):
//!
//! ```sh
//! buildah --root <state>/buildah/storage --runroot <state>/buildah/run --storage-driver vfs \
//!     pull docker-archive:base.tar
//! buildah --root <state>/buildah/storage --runroot <state>/buildah/run --storage-driver vfs \
//!     tag <image id> public.ecr.aws/docker/library/debian:bookworm-slim
//! ```
//!
//! or build it locally from its own Dockerfile with those storage options and
//! `bud --tag <name>`. The same Dockerfile then builds unchanged on AWS, where the name
//! resolves in the registry.
//!
//! # Users
//!
//! As root, buildah runs rootful in a new network namespace. Other users need unprivileged
//! user namespaces: buildah then runs in one that maps the user to root (as `unshare -rn`
//! does), on a storage the user owns; files in the image can then only be owned by root
//! (`COPY --chown` to another user fails), which running as a numeric `USER` does not need.

mod build;
mod buildah;
mod dockerfile;
mod error;
mod import;
mod lock;

pub use build::{BuildRequest, Built};
pub use buildah::{Buildah, PROGRAM, probe, probe_program};
pub use error::{Error, Result, Unavailable};
pub use import::import;
