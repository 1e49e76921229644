//! A region's network as one model, built from the spec: the VPC, its subnets, route tables and
//! NAT gateways, the security groups and the network ACLs. The network template is written from
//! it (`haven-cfn`), and `reach` answers from it whether traffic is allowed and which route,
//! security-group rule or ACL rule decides, as AWS's Reachability Analyzer answers.

mod model;
mod reach;

pub use model::{
    Acl, AclAction, AclRule, GroupId, Nat, Peer, Protocol, Route, RouteTable, SecurityGroup,
    SgRule, Subnet, Target, Tier, Vpc,
};
pub use reach::{Decision, Place, PlaceError, Step, Verdict, reach};
