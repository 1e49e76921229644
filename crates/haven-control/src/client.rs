//! How the CLI reaches a running twin: the supervisor's control API, found through its
//! endpoint file and called with the state directory's token.

use std::net::SocketAddr;
use std::time::Duration;

use haven_fs::WithPath;
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::control::{self, Endpoint};
use crate::paths::Paths;

/// How long the CLI waits for one answer: long enough for a region forwarding a slow call.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running supervisor, as the CLI reaches it.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub token: String,
    pub pid: u32,
}

impl Client {
    /// Finds the supervisor of the twin whose state directory is `paths`.
    pub fn connect(paths: &Paths) -> Result<Self, Error> {
        let ep = Endpoint::read(&paths.supervisor()).map_err(|_| {
            Error::NotRunning(format!(
                "haven is not running here (no {}); start it with `haven up`",
                paths.supervisor().display()
            ))
        })?;
        if !ep.is_alive() {
            return Err(Error::NotRunning(format!(
                "haven is not running here (pid {} has exited); start it with `haven up`",
                ep.pid
            )));
        }
        let token = std::fs::read_to_string(paths.token()).with_path(paths.token())?;
        Ok(Self {
            addr: ep.addr,
            token: token.trim().to_owned(),
            pid: ep.pid,
        })
    }

    /// A call whose answer is passed on as it came (`--json` output, forwarding).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, Error> {
        control::call(self.addr, &self.token, method, path, body, TIMEOUT).await
    }

    /// `GET path`, read as the type the API answers there.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        control::parse(path, self.call(Method::GET, path, None).await?)
    }

    /// A call with a typed body, its answer read as `T`.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let body = serde_json::to_value(body).map_err(|e| Error::Answer {
            path: path.to_owned(),
            reason: format!("cannot write the request: {e}"),
        })?;
        control::parse(path, self.call(method, path, Some(body)).await?)
    }
}
