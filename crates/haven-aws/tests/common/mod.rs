//! The moto harness: a moto server on a free loopback port for each test (killed on drop),
//! clients that talk to it with dummy keys, specs in temp dirs, and `aws_facts.py`, which reads
//! what was created through boto3 and prints JSON.
//!
//! moto and boto3 come from the project's venv (`scripts/test` creates `.venv`), or from PATH;
//! a test fails, rather than skips, when they are missing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haven_aws::client::StaticKeys;
use haven_aws::{Aws, Bundle, ClientOptions, Event, Method, Options};

/// A program from the venv, else from PATH; panics with how to install it.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    let candidate = venv.join(name);
    if candidate.is_file() {
        return candidate;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join(name);
            if c.is_file() {
                return c;
            }
        }
    }
    panic!(
        "`{name}` is not installed: the AWS tests need moto and boto3 from the project's venv. \
         Run scripts/test (it creates .venv from scripts/requirements-test.txt), or \
         `python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-test.txt`"
    );
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// moto with [`MOTO_AS_AWS`] applied: the deletions its CloudFormation lacks, and a failed
    /// deletion kept as `DELETE_FAILED`.
    pub fn start() -> Self {
        // The moto_server found is a script of its venv: that venv's python has moto.
        let server = venv_bin("moto_server");
        let python = server.with_file_name("python3");
        let python = if python.is_file() {
            python
        } else {
            venv_bin("python3")
        };
        Self::launch(&python, &["-c", MOTO_AS_AWS])
    }

    /// moto as installed, with none of [`MOTO_AS_AWS`].
    pub fn start_unpatched() -> Self {
        Self::launch(&venv_bin("moto_server"), &[])
    }

    /// [`Moto::start`] with environment variables for the server (moto reads some settings
    /// from its environment, such as `MOTO_ECS_SERVICE_RUNNING`: the running count of every
    /// ECS service it creates).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let python = venv_bin("moto_server").with_file_name("python3");
        let python = if python.is_file() {
            python
        } else {
            venv_bin("python3")
        };
        Self::launch_env(&python, &["-c", MOTO_AS_AWS], env)
    }

    fn launch(bin: &Path, pre_args: &[&str]) -> Self {
        Self::launch_env(bin, pre_args, &[])
    }

    fn launch_env(bin: &Path, pre_args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        // Try a few free ports: another process may take the one we found before moto binds it.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let out = std::fs::File::create(&log).unwrap();
            let child = Command::new(bin)
                .args(pre_args)
                .envs(env.iter().copied())
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut moto = Self {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
                _dir: tempfile::tempdir().unwrap(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // exited: probably the port; try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    moto._dir = dir;
                    return moto;
                }
                assert!(
                    Instant::now() < deadline,
                    "moto did not answer within 30 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "moto would not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Clients for this server.
    pub fn options(&self) -> ClientOptions {
        client_options(&self.url)
    }

    pub async fn aws(&self) -> Aws {
        Aws::load(&self.options(), "us-east-1").await
    }

    /// What exists, through boto3 (see aws_facts.py).
    pub fn inspect(&self, regions: &[&str]) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws_facts.py");
        let out = Command::new(venv_bin("python3"))
            .arg(&script)
            .arg(&self.url)
            .args(regions)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws_facts.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs a boto3 snippet with `endpoint` defined; returns its stdout.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json\nendpoint = {:?}\n\
             def client(s, r='us-east-1'):\n    \
             return boto3.client(s, endpoint_url=endpoint, region_name=r, \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.url
        );
        let out = Command::new(venv_bin("python3"))
            .arg("-c")
            .arg(format!("{prelude}{code}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The requests, and the first lines of the last traceback (they name the cause).
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let start = lines
                .iter()
                .rposition(|l| l.starts_with("Traceback"))
                .unwrap_or(lines.len().saturating_sub(40));
            eprintln!("--- moto's log, from its last traceback:");
            for line in lines
                .iter()
                .skip(start)
                .take(60)
                .filter(|l| !l.trim_start().starts_with('^'))
            {
                eprintln!("{line}");
            }
            if let Some(last) = lines.last() {
                eprintln!("...\n{last}");
            }
            eprintln!("--- moto's last requests:");
            let requests: Vec<&&str> = lines.iter().filter(|l| l.contains("\" ")).collect();
            for line in requests.iter().rev().take(15).rev() {
                eprintln!("{line}");
            }
        }
        // The server is ours; if it already exited, kill fails and wait still reaps it.
        if let Err(e) = self.child.kill() {
            eprintln!("moto: kill: {e}");
        }
        if let Err(e) = self.child.wait() {
            eprintln!("moto: wait: {e}");
        }
    }
}

/// Clients for an endpoint, with dummy keys and few retries (moto answers at once).
pub fn client_options(url: &str) -> ClientOptions {
    ClientOptions {
        endpoint_url: Some(url.to_owned()),
        static_keys: Some(StaticKeys {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

/// A project: the default fixture's spec (edited by `edit`) and a buildspec, in a temp dir.
pub struct Project {
    pub dir: tempfile::TempDir,
}

/// The default architecture (two regions), with the desired task count written out so that a
/// test can change it.
pub const BASE_SPEC: &str = r#"[project]
name = "hello"

[service]
command = ["target/release/hello"]
port = 8080
desired = 2

[notifications.topics.alerts]
email = ["ops@example.com"]
"#;

impl Project {
    pub fn new(edit: impl FnOnce(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../haven-cfn/tests/fixtures/default");
        std::fs::copy(
            fixtures.join("buildspec.yml"),
            dir.path().join("buildspec.yml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("haven.toml"), edit(BASE_SPEC.to_owned())).unwrap();
        Self { dir }
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("haven.toml")
    }

    pub fn edit(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.spec_path()).unwrap();
        std::fs::write(self.spec_path(), edit(text)).unwrap();
    }

    pub fn spec(&self) -> haven_spec::Spec {
        match haven_spec::load(&self.spec_path()) {
            Ok(l) => l.spec,
            Err(e) => panic!("the spec does not load: {e}"),
        }
    }

    /// The spec's stacks, made deployable on moto by [`for_moto`].
    pub fn bundle(&self) -> Bundle {
        let spec = self.spec();
        let synthesis = haven_cfn::synth(&spec).unwrap();
        for_moto(Bundle::from_synthesis(&spec, &synthesis).unwrap())
    }
}

/// moto cannot create `AWS::IAM::Group` through CloudFormation: a `Ref` to the group comes back
/// empty and the policy attached to it fails the whole stack ("Group None not found"). So the
/// developers' group and its branch-protection policy (primary delivery stack) are removed
/// before deploying to moto; everything else is deployed as synthesized.
pub fn for_moto(mut bundle: Bundle) -> Bundle {
    for stack in &mut bundle.stacks {
        let mut t: serde_json::Value = serde_json::from_str(&stack.body).unwrap();
        let resources = t["Resources"].as_object_mut().unwrap();
        let groups: Vec<String> = resources
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::IAM::Group")
            .map(|(id, _)| id.clone())
            .collect();
        if groups.is_empty() {
            continue;
        }
        let attached_to_group = |r: &serde_json::Value| {
            r["Type"] == "AWS::IAM::Policy"
                && r["Properties"]["Groups"].as_array().is_some_and(|g| {
                    g.iter()
                        .any(|x| groups.iter().any(|id| x["Ref"] == id.as_str()))
                })
        };
        resources.retain(|id, r| !groups.contains(id) && !attached_to_group(r));
        stack.body = serde_json::to_string(&t).unwrap();
    }
    bundle
}

/// Options for moto: the given method, `ImageTag`, fast polls, short timeouts.
pub fn options(method: Method) -> Options {
    Options {
        method,
        parameters: [("ImageTag".to_owned(), "v1".to_owned())].into(),
        stack_timeout: Duration::from_secs(60),
        first_poll: Duration::from_millis(20),
        max_poll: Duration::from_millis(200),
    }
}

/// Collects events for assertions.
#[derive(Default)]
pub struct Events(pub std::sync::Mutex<Vec<Event>>);

impl Events {
    pub fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A current-thread runtime, as the CLI uses.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// What the harness changes in moto (5.2.6, the pinned version) so that deleting a stack does
/// what CloudFormation does on AWS; run as `python3 -c MOTO_AS_AWS -H HOST -p PORT` in place of
/// `moto_server`. docs/aws.md ("What moto does differently") lists it. moto's CloudFormation
/// deletes a resource only when its model implements a deletion, and these models do not, so a
/// deleted stack silently left them behind:
///
/// - route tables: moto refuses to delete a VPC that still has a route table besides its main
///   one, so every network stack's deletion failed with "DependencyViolation: The vpc ... has
///   dependencies and cannot be deleted" (the reported failure; not an order problem: the
///   stack's route tables were never deleted at all);
/// - NAT gateways (and their network interfaces), internet gateways and their attachments,
///   Elastic IPs, flow logs, VPC endpoints, target groups, ECS services, clusters and task
///   definitions, Route 53 health checks.
///
/// Each gets the deletion its API has, which raises while something still uses the resource
/// (a target group while a listener forwards to it), so moto's own loop, which retries failed
/// deletions while it makes progress, deletes them in a working order, as CloudFormation's
/// dependency order does. And a stack whose deletion fails is kept as `DELETE_FAILED` with a
/// `DELETE_FAILED` event naming the resource and AWS's error, as CloudFormation keeps it, where
/// moto answered DeleteStack with the resource's error and dropped the stack anyway.
pub const MOTO_AS_AWS: &str = r#"
from moto.cloudformation import models as cfn
from moto.cloudformation import parsing
from moto.ec2.models.elastic_ip_addresses import ElasticAddress
from moto.ec2.models.flow_logs import FlowLogs
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.nat_gateways import NatGateway
from moto.ec2.models.route_tables import RouteTable
from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
from moto.ecs.models import Cluster, Service, TaskDefinition, ecs_backends
from moto.elbv2.models import FakeTargetGroup, elbv2_backends
from moto.route53.models import HealthCheck, route53_backends
from moto.utilities.utils import get_partition


def deletes(cls, delete):
    # ResourceMap._delete_resource calls resource.delete(account_id, region) first.
    cls.delete = lambda self, account_id, region: delete(self, account_id, region)


def detach(attachment, account_id, region):
    if attachment.gateway_id and attachment.gateway_id.startswith("igw-"):
        from moto.ec2.models import ec2_backends
        ec2_backends[account_id][region].detach_internet_gateway(
            attachment.gateway_id, attachment.vpc_id
        )


def delete_nat(nat, account_id, region):
    nat.ec2_backend.delete_nat_gateway(nat.id)
    nat.ec2_backend.delete_network_interface(nat._eni.id)


def delete_endpoint(endpoint, account_id, region):
    backend = endpoint.ec2_backend
    for table in endpoint.route_table_ids:
        if table in backend.route_tables:
            backend.delete_route(table, endpoint.destination_prefix_list_id)
    endpoint.route_table_ids = []
    backend.delete_vpc_endpoints([endpoint.id])


deletes(RouteTable, lambda t, a, r: t.ec2_backend.delete_route_table(t.id))
deletes(NatGateway, delete_nat)
deletes(VPCGatewayAttachment, detach)
deletes(InternetGateway, lambda g, a, r: g.ec2_backend.delete_internet_gateway(g.id))
deletes(ElasticAddress, lambda e, a, r: e.ec2_backend.release_address(allocation_id=e.allocation_id))
deletes(FlowLogs, lambda f, a, r: f.ec2_backend.delete_flow_logs([f.id]))
deletes(VPCEndPoint, delete_endpoint)
deletes(FakeTargetGroup, lambda g, a, r: elbv2_backends[a][r].delete_target_group(g.arn))
deletes(Service, lambda s, a, r: ecs_backends[a][r].delete_service(s.cluster_name, s.name, True))
deletes(Cluster, lambda c, a, r: ecs_backends[a][r].delete_cluster(c.name))
deletes(TaskDefinition, lambda t, a, r: ecs_backends[a][r].deregister_task_definition(t.arn))
deletes(
    HealthCheck,
    lambda h, a, r: route53_backends[a][get_partition(r)].delete_health_check(h.id),
)


# ECR: the template's EmptyOnDelete, which moto ignores, deletes the images with the repository.
from moto.ecr.models import Repository, ecr_backends

create_repository = Repository.create_from_cloudformation_json.__func__


def create_remembering_empty_on_delete(cls, name, cfn_json, account_id, region, **kwargs):
    repo = create_repository(cls, name, cfn_json, account_id, region, **kwargs)
    repo.empty_on_delete = bool(cfn_json["Properties"].get("EmptyOnDelete"))
    return repo


Repository.create_from_cloudformation_json = classmethod(create_remembering_empty_on_delete)
deletes(
    Repository,
    lambda repo, a, r: ecr_backends[a][r].delete_repository(
        repo.name, force=getattr(repo, "empty_on_delete", False)
    ),
)


# The resource whose deletion failed last: the one moto's loop gives up on.
delete_resource = parsing.ResourceMap._delete_resource


def remember_failure(self, resource, resource_json):
    try:
        delete_resource(self, resource, resource_json)
    except Exception as e:
        self.failed_delete = (
            resource.logical_resource_id,
            resource_json["Type"],
            getattr(resource, "physical_resource_id", None) or "",
            e,
        )
        raise


parsing.ResourceMap._delete_resource = remember_failure


class StackDeleteFailed(Exception):
    def __init__(self, stack):
        self.stack = stack


def delete_stack_as_aws(self):
    self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    try:
        self.resource_map.delete()
    except Exception as e:
        logical, kind, physical, cause = getattr(
            self.resource_map, "failed_delete", (self.name, "AWS::CloudFormation::Stack", "", e)
        )
        code = getattr(cause, "code", type(cause).__name__)
        message = getattr(cause, "message", str(cause))
        self.events.append(
            cfn.Event(
                stack_id=self.stack_id,
                stack_name=self.name,
                logical_resource_id=logical,
                physical_resource_id=physical,
                resource_type=kind,
                resource_status="DELETE_FAILED",
                resource_status_reason=f"{message} (Status Code: 400; Error Code: {code})",
                resource_properties=None,
            )
        )
        self._add_stack_event(
            "DELETE_FAILED",
            resource_status_reason=f"The following resource(s) failed to delete: [{logical}]. ",
        )
        self.status = "DELETE_FAILED"
        raise StackDeleteFailed(self)
    self._add_stack_event("DELETE_COMPLETE")
    self.status = "DELETE_COMPLETE"


cfn.Stack.delete = delete_stack_as_aws
backend_delete_stack = cfn.CloudFormationBackend.delete_stack


def keep_failed_stack(self, name_or_stack_id):
    # moto pops the stack before deleting it; a failed deletion puts it back.
    try:
        backend_delete_stack(self, name_or_stack_id)
    except StackDeleteFailed as failed:
        self.stacks[failed.stack.stack_id] = failed.stack


cfn.CloudFormationBackend.delete_stack = keep_failed_stack

from moto.server import main

main()
"#;

/// The moto version `scripts/requirements-test.txt` pins (`moto[server]==X.Y.Z`).
pub fn pinned_moto() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/requirements-test.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("moto[server]=="))
        .unwrap_or_else(|| panic!("{} pins no moto[server]==X.Y.Z", path.display()))
        .trim()
        .to_owned()
}

/// The moto version the harness runs (from the venv moto_server belongs to).
pub fn installed_moto() -> String {
    let python = venv_bin("moto_server").with_file_name("python3");
    let python = if python.is_file() {
        python
    } else {
        venv_bin("python3")
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('moto'))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cannot read moto's version: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Makes `dir` a git repository with everything in it committed once; returns HEAD's id.
pub fn git_commit_all(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=haven",
                "-c",
                "user.email=haven@example.com",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "first"]);
    git(&["rev-parse", "HEAD"])
}

/// moto's CloudFormation skips CodeBuild projects, so the Build project the primary's delivery
/// stack declares is created here with boto3, under its name and with its inline buildspec.
pub fn create_build_project(moto: &Moto, region: &str, name: &str, buildspec: &str) {
    moto.python(&format!(
        "client('codebuild', {region:?}).create_project(name={name:?}, \
         source={{'type': 'CODEPIPELINE', 'location': 'pipeline', 'buildspec': {buildspec:?}}}, \
         artifacts={{'type': 'CODEPIPELINE', 'location': 'pipeline'}}, \
         environment={{'type': 'LINUX_CONTAINER', 'computeType': 'BUILD_GENERAL1_SMALL', \
         'image': 'aws/codebuild/amazonlinux-x86_64-standard:5.0', 'privilegedMode': True}}, \
         serviceRole='arn:aws:iam::123456789012:role/{name}')"
    ));
}

/// Puts `repository:tag` into moto's ECR in `region`: what a build's push (primary) or ECR
/// replication (secondaries) does on AWS, neither of which moto does.
pub fn put_image(moto: &Moto, region: &str, repository: &str, tag: &str) {
    moto.python(&format!(
        "m = json.dumps({{'schemaVersion': 2, \
         'mediaType': 'application/vnd.docker.distribution.manifest.v2+json', \
         'config': {{'mediaType': 'application/vnd.docker.container.image.v1+json', \
         'size': 2, 'digest': 'sha256:' + '0' * 64}}, 'layers': []}})\n\
         client('ecr', {region:?}).put_image(repositoryName={repository:?}, imageManifest=m, \
         imageTag={tag:?})"
    ));
}

/// When `line` (a deploy's progress) says it waits for the image `hello:TAG` in a region's
/// repository, puts it there (see [`put_image`]); whether it did.
pub fn push_awaited_image(moto: &Moto, line: &str) -> bool {
    let Some(rest) = line.split("waiting for the image hello:").nth(1) else {
        return false;
    };
    let tag = rest.split_whitespace().next().unwrap();
    let region = rest
        .split(" in ")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    put_image(moto, region, "hello", tag);
    true
}

/// Every stack in both regions as `NAME STATUS`, sorted.
pub fn stack_statuses(moto: &Moto) -> Vec<String> {
    let out = moto.python(
        "out = []\n\
         for r in ('us-east-1', 'us-west-2'):\n    \
             out += [s['StackName'] + ' ' + s['StackStatus'] for s in \
             client('cloudformation', r).describe_stacks()['Stacks']]\n\
         print(json.dumps(sorted(out)))",
    );
    serde_json::from_str(&out).unwrap()
}

/// The builds of a CodeBuild project in moto, oldest first, as BatchGetBuilds shows them.
pub fn builds(moto: &Moto, region: &str, project: &str) -> Vec<serde_json::Value> {
    let out = moto.python(&format!(
        "c = client('codebuild', {region:?})\n\
         ids = c.list_builds_for_project(projectName={project:?}, sortOrder='ASCENDING')['ids']\n\
         builds = c.batch_get_builds(ids=ids)['builds'] if ids else []\n\
         print(json.dumps(builds, default=str))"
    ));
    serde_json::from_str(&out).unwrap()
}

/// Runs every production and staging service of [`ready_moto`]'s deployments at its desired
/// count with its deployment completed: moto creates each ECS service with this many running
/// tasks, and its rollout `COMPLETED` when that reaches the desired count.
pub const MOTO_RUNNING: (&str, &str) = ("MOTO_ECS_SERVICE_RUNNING", "2");

/// Makes a deployment of [`BASE_SPEC`] (with `service.secrets`) on moto look like a serving
/// one, doing what moto leaves undone: the image `tag` pushed to every region's repository
/// (the build and ECR replication), each secret stored in every region, each service's running
/// count brought to its desired count (needs [`MOTO_RUNNING`]; UpdateService does it in moto),
/// and two healthy targets registered in the blue target group of each environment, the one
/// its traffic rule forwards to (ECS registers tasks on AWS).
pub fn ready_moto(moto: &Moto, bundle: &Bundle, tag: &str) {
    for region in &bundle.regions {
        put_image(moto, region, &bundle.project, tag);
        for secret in bundle.secrets.iter().filter(|s| s.regions.contains(region)) {
            moto.python(&format!(
                "client('ssm', {region:?}).put_parameter(Name={:?}, Value='s3cret', \
                 Type='SecureString', Overwrite=True)",
                secret.parameter
            ));
        }
        let network = format!("{}-{region}-network", bundle.project);
        let second = if region == &bundle.primary_region {
            0
        } else {
            1
        };
        moto.python(&format!(
            "cf = client('cloudformation', {region:?})\n\
             outs = {{o['OutputKey']: o['OutputValue'] for o in \
             cf.describe_stacks(StackName={network:?})['Stacks'][0]['Outputs']}}\n\
             elb = client('elbv2', {region:?})\n\
             ecs = client('ecs', {region:?})\n\
             for env in ['Production', 'Staging']:\n\
             \x20   arn = outs.get(env + 'BlueTargetGroupArn')\n\
             \x20   if arn is None: continue\n\
             \x20   elb.register_targets(TargetGroupArn=arn, Targets=[\
             {{'Id': '10.{second}.11.5', 'Port': 8080}}, {{'Id': '10.{second}.12.5', 'Port': 8080}}])\n\
             \x20   name = {project:?} + '-' + env.lower()\n\
             \x20   s = ecs.describe_services(cluster={project:?}, services=[name])['services'][0]\n\
             \x20   ecs.update_service(cluster={project:?}, service=name, desiredCount=s['desiredCount'])",
            project = bundle.project,
        ));
    }
}

/// Deploys the bundle with `Method::Direct` and `ImageTag=v1`, as the deploy tests do.
pub fn deploy_direct(moto: &Moto, bundle: &Bundle) {
    block_on(async {
        let aws = moto.aws().await;
        let opts = options(Method::Direct);
        let plan = haven_aws::plan::plan(&aws, bundle, &[], &opts, true, &|_| {})
            .await
            .unwrap();
        haven_aws::deploy::execute(&aws, bundle, plan, &opts, &|_| {})
            .await
            .unwrap();
    });
}
