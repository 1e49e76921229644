//! What goes wrong, against a moto server: a template moto refuses, a deploy-time value not
//! given, change-set execution on moto (which drops outputs), an endpoint that does not answer;
//! and the secrets and status commands.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use common::{Moto, Project, block_on, options};
use haven_aws::{Aws, Error, Method, plan, secrets, status};

#[test]
fn a_refused_template_names_the_stack_and_stops() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let mut bundle = project.bundle();
    // An invalid property value: moto validates the VPC's CIDR and answers 400.
    let net = bundle
        .stacks
        .iter_mut()
        .find(|s| s.name == "hello-us-west-2-network")
        .unwrap();
    net.body = net.body.replace("\"10.1.0.0/16\"", "\"10.1.0.0/99\"");
    assert!(net.body.contains("10.1.0.0/99"));
    block_on(async {
        let aws = moto.aws().await;
        let opts = options(Method::Direct);
        let p = plan::plan(&aws, &bundle, &[], &opts, true, &|_| {})
            .await
            .unwrap();
        let err = haven_aws::deploy::execute(&aws, &bundle, p, &opts, &|_| {})
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Call { stack: Some(s), action: "CreateStack", .. } if s == "hello-us-west-2-network"),
            "{err:?}"
        );
        assert!(text.contains("hello-us-west-2-network"), "{text}");
        assert!(text.contains("10.1.0.0/99"), "{text}");
        // The stacks before it were deployed, the ones after it were not touched. (moto keeps
        // the refused stack half-made: describing it is an HTTP 500, as the CIDR fails again
        // when moto serializes it. AWS would have rolled it back. So only us-east-1 is read.)
        let st = status::status(&aws, &bundle, &["us-east-1".into()])
            .await
            .unwrap();
        let of = |name: &str| {
            st.stacks
                .iter()
                .find(|s| s.stack == name)
                .unwrap()
                .status
                .clone()
        };
        assert_eq!(of("hello-us-east-1-network"), "CREATE_COMPLETE");
        assert_eq!(of("hello-us-east-1-monitoring"), "CREATE_COMPLETE");
        assert_eq!(of("hello-us-east-1-delivery"), status::NOT_DEPLOYED);
        assert_eq!(of("hello-us-east-1-service"), status::NOT_DEPLOYED);
    });
}

#[test]
fn a_missing_deploy_time_value_is_asked_for_by_name() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    block_on(async {
        let aws = moto.aws().await;
        let mut opts = options(Method::Direct);
        opts.parameters.clear();
        let err = plan::plan(&aws, &bundle, &[], &opts, true, &|_| {})
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::MissingParameter { .. }), "{err:?}");
        assert!(text.contains("hello-us-east-1-service"), "{text}");
        assert!(text.contains("--parameter ImageTag=VALUE"), "{text}");
        // Nothing was left behind by the aborted plan.
        let st = status::status(&aws, &bundle, &[]).await.unwrap();
        assert!(
            st.stacks.iter().all(|s| s.status == status::NOT_DEPLOYED),
            "{:?}",
            st.stacks
        );
        // diff still works: the stack is listed from its template, with what is missing.
        let p = plan::plan(&aws, &bundle, &[], &opts, false, &|_| {})
            .await
            .unwrap();
        let svc = p
            .stacks
            .iter()
            .find(|s| s.stack == "hello-us-east-1-service")
            .unwrap();
        assert!(svc.note.as_deref().unwrap().contains("ImageTag"));
        assert!(
            svc.changes
                .iter()
                .any(|c| c.resource_type == "AWS::ECS::Service")
        );
        plan::discard(&aws, &p, &|_| {}).await.unwrap();
    });
}

#[test]
fn change_set_execution_on_moto_loses_outputs_and_says_so() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    block_on(async {
        let aws = moto.aws().await;
        let opts = options(Method::ChangeSet);
        let p = plan::plan(&aws, &bundle, &["us-east-1".into()], &opts, true, &|_| {})
            .await
            .unwrap();
        let err = haven_aws::deploy::execute(&aws, &bundle, p, &opts, &|_| {})
            .await
            .unwrap_err();
        // The change set was executed (the stack exists) but moto kept no outputs.
        assert!(
            matches!(&err, Error::MissingOutputs { stack, .. } if stack == "hello-us-east-1-network"),
            "{err:?}"
        );
        assert!(err.to_string().contains("--method direct"), "{err}");
        let st = status::status(&aws, &bundle, &["us-east-1".into()])
            .await
            .unwrap();
        assert_eq!(st.stacks[0].status, "CREATE_COMPLETE");
        assert_eq!(st.stacks[1].status, status::NOT_DEPLOYED);
    });
}

#[test]
fn an_endpoint_that_does_not_answer_is_a_clear_error() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    block_on(async {
        let options = common::client_options(&format!("http://127.0.0.1:{port}"));
        let aws = Aws::load(&options, "us-east-1").await;
        let err = status::status(&aws, &bundle, &[]).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                &err,
                Error::Call {
                    action: "DescribeStacks",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(text.contains("hello-us-east-1-network"), "{text}");
        assert!(
            text.to_lowercase().contains("connect") || text.contains("dispatch"),
            "{text}"
        );
    });
}

#[test]
fn secrets_are_secure_strings_in_every_region() {
    let moto = Moto::start();
    let project = Project::new(|t| {
        t.replace(
            "port = 8080",
            "port = 8080\nsecrets = { DB_PASSWORD = \"/hello/db-password\" }",
        )
    });
    let bundle = project.bundle();
    block_on(async {
        let aws = moto.aws().await;
        let unknown = secrets::set(&aws, &bundle, "NOPE", "x", &[])
            .await
            .unwrap_err();
        assert!(unknown.to_string().contains("DB_PASSWORD"), "{unknown}");
        let empty = secrets::set(&aws, &bundle, "DB_PASSWORD", "", &[])
            .await
            .unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");

        let before = status::status(&aws, &bundle, &[]).await.unwrap();
        assert!(before.secrets.iter().all(|s| !s.set));
        let stored = secrets::set(&aws, &bundle, "DB_PASSWORD", "s3cr3t value", &[])
            .await
            .unwrap();
        assert_eq!(stored.regions, ["us-east-1", "us-west-2"]);
        // By parameter name too, one region only.
        let again = secrets::set(
            &aws,
            &bundle,
            "/hello/db-password",
            "s3cr3t value",
            &["us-west-2".into()],
        )
        .await
        .unwrap();
        assert_eq!(again.regions, ["us-west-2"]);
        let after = status::status(&aws, &bundle, &[]).await.unwrap();
        assert_eq!(after.secrets.len(), 2);
        assert!(after.secrets.iter().all(|s| s.set), "{:?}", after.secrets);
    });
    for region in ["us-east-1", "us-west-2"] {
        let out = moto.python(&format!(
            "p = client('ssm', '{region}').get_parameter(Name='/hello/db-password', WithDecryption=True)['Parameter']\n\
             print(json.dumps([p['Type'], p['Value']]))"
        ));
        let got: Vec<String> = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(got, ["SecureString", "s3cr3t value"], "{region}");
    }
    // Destroy with force deletes them (there are no stacks).
    block_on(async {
        let aws = moto.aws().await;
        let report = haven_aws::destroy::destroy(
            &aws,
            &bundle,
            &[],
            true,
            &options(Method::Direct),
            &|_| {},
        )
        .await
        .unwrap();
        assert_eq!(report.secrets_deleted.len(), 2);
        assert!(report.deleted.is_empty());
        let after = status::status(&aws, &bundle, &[]).await.unwrap();
        assert!(after.secrets.iter().all(|s| !s.set));
    });
}
