//! Observing and notifying: log groups, alarms, dashboards, SNS topics, EventBridge rules.

use crate::iam::PolicyDocument;
use crate::model::{Expr, Tag, cfn_struct};

cfn_struct! {
    pub struct LogGroup {
        log_group_name: String,
        retention_in_days: u32,
        kms_key_id: Expr,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct Topic {
        topic_name: String,
        display_name: String,
        kms_master_key_id: Expr,
        subscription: Vec<Subscription>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct Subscription {
        protocol: &'static str,
        endpoint: String,
    }
}

cfn_struct! {
    pub struct TopicPolicy {
        topics: Vec<Expr>,
        policy_document: PolicyDocument,
    }
}

cfn_struct! {
    pub struct Alarm {
        alarm_name: String,
        alarm_description: String,
        actions_enabled: bool,
        alarm_actions: Vec<Expr>,
        #[serde(rename = "OKActions")]
        ok_actions: Vec<Expr>,
        namespace: Option<&'static str>,
        metric_name: Option<&'static str>,
        dimensions: Vec<Dimension>,
        statistic: Option<&'static str>,
        period: Option<u64>,
        metrics: Vec<MetricDataQuery>,
        evaluation_periods: u32,
        datapoints_to_alarm: u32,
        threshold: f64,
        comparison_operator: &'static str,
        treat_missing_data: &'static str,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct Dimension {
        name: &'static str,
        value: Expr,
    }
}

cfn_struct! {
    /// One line of a metric-math alarm: a metric, or an expression over the others.
    pub struct MetricDataQuery {
        id: String,
        label: Option<String>,
        expression: Option<String>,
        metric_stat: Option<MetricStat>,
        return_data: bool,
    }
}

cfn_struct! {
    pub struct MetricStat {
        metric: Metric,
        period: u64,
        stat: &'static str,
    }
}

cfn_struct! {
    pub struct Metric {
        namespace: &'static str,
        metric_name: &'static str,
        dimensions: Vec<Dimension>,
    }
}

cfn_struct! {
    pub struct Dashboard {
        dashboard_name: String,
        dashboard_body: Expr,
    }
}

cfn_struct! {
    pub struct EventRule {
        name: String,
        description: String,
        state: &'static str,
        event_pattern: serde_json::Value,
        targets: Vec<EventTarget>,
    }
}

cfn_struct! {
    pub struct EventTarget {
        id: String,
        arn: Expr,
        role_arn: Option<Expr>,
        input_transformer: Option<InputTransformer>,
    }
}

cfn_struct! {
    pub struct InputTransformer {
        input_paths_map: std::collections::BTreeMap<String, String>,
        input_template: String,
    }
}
