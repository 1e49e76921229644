//! The network template's security groups are the network model's, rule by rule: the model is
//! what the twin enforces, so the two can never say different things.

mod common;

use serde_json::Value;

/// A rule as both sides can state it: (group, direction, protocol, from, to, peer).
type Rule = (String, &'static str, String, u64, u64, String);

fn group_name(logical: &str) -> String {
    match logical {
        "AlbSecurityGroup" => "alb".to_owned(),
        "TaskSecurityGroup" => "task".to_owned(),
        other => panic!("a security group the model does not have: {other}"),
    }
}

fn peer(rule: &Value, key: &str) -> String {
    match (&rule["CidrIp"], &rule[key]) {
        (Value::String(c), _) => c.clone(),
        (_, Value::Object(g)) => group_name(g["Fn::GetAtt"][0].as_str().unwrap_or_default()),
        _ => panic!("a rule with no peer: {rule}"),
    }
}

fn template_rules(template: &Value) -> Vec<Rule> {
    let mut out = Vec::new();
    for (name, r) in template["Resources"]
        .as_object()
        .unwrap_or(&serde_json::Map::new())
    {
        let p = &r["Properties"];
        let num = |v: &Value| v.as_u64().unwrap_or_default();
        let proto = |v: &Value| v["IpProtocol"].as_str().unwrap_or_default().to_owned();
        match r["Type"].as_str() {
            Some("AWS::EC2::SecurityGroup") => {
                for (list, dir, key) in [
                    ("SecurityGroupIngress", "ingress", "SourceSecurityGroupId"),
                    (
                        "SecurityGroupEgress",
                        "egress",
                        "DestinationSecurityGroupId",
                    ),
                ] {
                    for rule in p[list].as_array().into_iter().flatten() {
                        out.push((
                            group_name(name),
                            dir,
                            proto(rule),
                            num(&rule["FromPort"]),
                            num(&rule["ToPort"]),
                            peer(rule, key),
                        ));
                    }
                }
            }
            Some("AWS::EC2::SecurityGroupIngress") => out.push((
                group_name(p["GroupId"]["Fn::GetAtt"][0].as_str().unwrap_or_default()),
                "ingress",
                proto(p),
                num(&p["FromPort"]),
                num(&p["ToPort"]),
                peer(p, "SourceSecurityGroupId"),
            )),
            _ => {}
        }
    }
    out.sort();
    out
}

fn model_rules(vpc: &haven_net::Vpc) -> Vec<Rule> {
    let mut out = Vec::new();
    for g in &vpc.groups {
        let id = match g.id {
            haven_net::GroupId::Alb => "alb",
            haven_net::GroupId::Task => "task",
        };
        for (dir, rules) in [("ingress", &g.ingress), ("egress", &g.egress)] {
            for r in rules {
                let peer = match r.peer {
                    haven_net::Peer::Cidr(c) => c.to_string(),
                    haven_net::Peer::Group(haven_net::GroupId::Alb) => "alb".to_owned(),
                    haven_net::Peer::Group(haven_net::GroupId::Task) => "task".to_owned(),
                };
                out.push((
                    id.to_owned(),
                    dir,
                    r.protocol.cfn().to_owned(),
                    u64::from(r.from_port),
                    u64::from(r.to_port),
                    peer,
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_region_s_security_groups_are_the_model_s() {
    for fixture in ["default", "every-knob"] {
        let spec = common::fixture(fixture);
        let synthesis = common::synth(&spec);
        for region in &spec.regions {
            let template = common::json(&synthesis, &format!("{}/network.json", region.name));
            let model = model_rules(&haven_net::Vpc::of(&spec, region));
            assert!(!model.is_empty());
            assert_eq!(
                template_rules(&template),
                model,
                "{fixture} {}",
                region.name
            );
        }
    }
}
