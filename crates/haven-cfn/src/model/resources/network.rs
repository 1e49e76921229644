//! EC2 networking: VPC, subnets, gateways, routes, security groups, flow logs, endpoints.

use crate::iam::PolicyDocument;
use crate::model::{Expr, ExprList, Tag, cfn_struct};

cfn_struct! {
    pub struct Vpc {
        cidr_block: Expr,
        enable_dns_hostnames: bool,
        enable_dns_support: bool,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct Subnet {
        vpc_id: Expr,
        cidr_block: Expr,
        availability_zone: Expr,
        map_public_ip_on_launch: bool,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct InternetGateway {
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct VpcGatewayAttachment {
        vpc_id: Expr,
        internet_gateway_id: Expr,
    }
}

cfn_struct! {
    pub struct Eip {
        domain: &'static str,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct NatGateway {
        allocation_id: Expr,
        subnet_id: Expr,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct RouteTable {
        vpc_id: Expr,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct Route {
        route_table_id: Expr,
        destination_cidr_block: Expr,
        gateway_id: Option<Expr>,
        nat_gateway_id: Option<Expr>,
    }
}

cfn_struct! {
    pub struct SubnetRouteTableAssociation {
        subnet_id: Expr,
        route_table_id: Expr,
    }
}

cfn_struct! {
    /// One rule, inline in a security group.
    pub struct SgRule {
        description: String,
        ip_protocol: &'static str,
        from_port: u16,
        to_port: u16,
        cidr_ip: Option<Expr>,
        destination_security_group_id: Option<Expr>,
        source_security_group_id: Option<Expr>,
    }
}

cfn_struct! {
    pub struct SecurityGroup {
        group_description: String,
        vpc_id: Expr,
        security_group_ingress: Vec<SgRule>,
        security_group_egress: Vec<SgRule>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    /// A rule as its own resource: it breaks the reference cycle between two groups that name
    /// each other.
    pub struct SecurityGroupIngress {
        group_id: Expr,
        description: String,
        ip_protocol: &'static str,
        from_port: u16,
        to_port: u16,
        source_security_group_id: Option<Expr>,
    }
}

cfn_struct! {
    pub struct FlowLog {
        resource_id: Expr,
        resource_type: &'static str,
        traffic_type: &'static str,
        log_destination_type: &'static str,
        log_group_name: Expr,
        deliver_logs_permission_arn: Expr,
        max_aggregation_interval: u32,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct VpcEndpoint {
        vpc_id: Expr,
        service_name: Expr,
        vpc_endpoint_type: &'static str,
        route_table_ids: ExprList,
        policy_document: Option<PolicyDocument>,
    }
}
