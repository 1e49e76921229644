//! What can go wrong with the parameter store; every error names the file or parameter at fault
//! and none carries a value.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    /// No key or nonce without the OS's randomness.
    #[error(transparent)]
    Random(#[from] haven_fs::random::RandomError),
    /// SSM's ValidationException for a name.
    #[error("invalid parameter name `{name}`: it {problem}")]
    Name { name: String, problem: String },
    /// A value SSM would refuse (empty, or over the Standard tier's size).
    #[error("parameter {name}: the value {problem}")]
    Value { name: String, problem: String },
    #[error(
        "the key file {} has mode {mode:03o}: group or others can read or change it, and whoever reads it can decrypt every parameter; `chmod 600 {}` if that was not intended",
        path.display(),
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("the key file {}: {problem}", path.display())]
    Key { path: PathBuf, problem: String },
    #[error(
        "cannot decrypt parameter {name} in {}: the file was altered, or the key {} is not the one the value was encrypted with",
        path.display(),
        key.display()
    )]
    Decrypt {
        name: String,
        path: PathBuf,
        key: PathBuf,
    },
    #[error("{} is not a parameter file haven wrote: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },
}
