//! Elastic Load Balancing v2: the ALB, its listeners and rules, and the target groups.

use crate::model::{Expr, ExprList, KeyValue, Tag, cfn_struct};

cfn_struct! {
    pub struct LoadBalancer {
        name: Option<String>,
        r#type: &'static str,
        scheme: &'static str,
        ip_address_type: &'static str,
        subnets: ExprList,
        security_groups: ExprList,
        load_balancer_attributes: Vec<KeyValue>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct Certificate {
        certificate_arn: Expr,
    }
}

cfn_struct! {
    pub struct Listener {
        load_balancer_arn: Expr,
        port: u16,
        protocol: &'static str,
        ssl_policy: Option<&'static str>,
        certificates: Vec<Certificate>,
        default_actions: Vec<Action>,
    }
}

cfn_struct! {
    pub struct Action {
        r#type: &'static str,
        redirect_config: Option<RedirectConfig>,
        fixed_response_config: Option<FixedResponseConfig>,
        forward_config: Option<ForwardConfig>,
    }
}

cfn_struct! {
    pub struct RedirectConfig {
        protocol: &'static str,
        port: &'static str,
        host: &'static str,
        path: &'static str,
        query: &'static str,
        status_code: &'static str,
    }
}

cfn_struct! {
    pub struct FixedResponseConfig {
        status_code: &'static str,
        content_type: &'static str,
        message_body: String,
    }
}

cfn_struct! {
    pub struct ForwardConfig {
        target_groups: Vec<WeightedTargetGroup>,
    }
}

cfn_struct! {
    pub struct WeightedTargetGroup {
        target_group_arn: Expr,
        weight: u32,
    }
}

cfn_struct! {
    pub struct ListenerRule {
        listener_arn: Expr,
        priority: u32,
        conditions: Vec<RuleCondition>,
        actions: Vec<Action>,
    }
}

cfn_struct! {
    pub struct RuleCondition {
        field: &'static str,
        path_pattern_config: Option<PathPatternConfig>,
        http_header_config: Option<HttpHeaderConfig>,
    }
}

cfn_struct! {
    pub struct PathPatternConfig {
        values: Vec<String>,
    }
}

cfn_struct! {
    pub struct HttpHeaderConfig {
        http_header_name: String,
        values: Vec<String>,
    }
}

cfn_struct! {
    pub struct Matcher {
        http_code: String,
    }
}

cfn_struct! {
    pub struct TargetGroup {
        vpc_id: Expr,
        port: u16,
        protocol: &'static str,
        protocol_version: &'static str,
        target_type: &'static str,
        health_check_enabled: bool,
        health_check_protocol: &'static str,
        health_check_path: String,
        health_check_interval_seconds: u64,
        health_check_timeout_seconds: u64,
        healthy_threshold_count: u32,
        unhealthy_threshold_count: u32,
        matcher: Matcher,
        target_group_attributes: Vec<KeyValue>,
        tags: Vec<Tag>,
    }
}
